"""What the S1/S4/S7/S8 scripts share: a prepared data dir, a ``hongyan run`` child, RSS, metrics.

Not a scenario itself. The scripts import it as ``harness`` (``bench/`` is on ``sys.path`` when a
script under it runs).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# Figures of a run go to stdout as one line with this prefix, so bench/run.py can tabulate them.
SUMMARY_PREFIX = "BENCH-SUMMARY "
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEMO_SIGN = "鸿雁演示"
# Enough balance for any run: 10 million CNY in fen, at the demo price of 5 fen a segment.
BIG_BALANCE_FEN = 1_000_000_000


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> str:
    """Time, nproc, CPU model, Python and load average: printed at the top of every run."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    # The load average says how busy the shared machine was when the run started.
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{stamp}; nproc {os.cpu_count()}, {model}, Python {platform.python_version()}; "
        f"load average {load}"
    )


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without HONGYAN_* (the run must not pick up a developer's settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGYAN_")}
    env.update(extra)
    return env


def forget_hongyan_env() -> None:
    """Drop HONGYAN_* from this process too, for contexts built in the bench process."""
    for name in [k for k in os.environ if k.startswith("HONGYAN_")]:
        del os.environ[name]


@dataclass(frozen=True, slots=True)
class Credentials:
    tenant_id: str
    key_id: str
    secret: str
    sign: str = DEMO_SIGN

    @property
    def authorization(self) -> str:
        token = base64.b64encode(f"{self.key_id}:{self.secret}".encode()).decode()
        return f"Basic {token}"


async def prepare(
    data_dir: Path,
    *,
    simulator: dict[str, Any],
    balance_fen: int = BIG_BALANCE_FEN,
    database_url: str = "",
) -> Credentials:
    """First run of a fresh data dir, as ``hongyan run`` would do it, then bench settings.

    The demo tenant gets a big balance and no per-number limits (the benchmarks send to many
    numbers, fast); the default simulator connector gets ``simulator`` settings.
    """
    from hongyan.accounts import service as accounts
    from hongyan.accounts.bootstrap import first_run
    from hongyan.api.context import AppContext
    from hongyan.billing import service as billing
    from hongyan.config import Settings
    from hongyan.limits import service as limits
    from hongyan.limits.schemas import LimitsUpdate
    from hongyan.routing import service as routing
    from hongyan.routing.schemas import ConnectorUpdate

    forget_hongyan_env()
    # database_url: a fresh PostgreSQL database instead of the data dir's SQLite file.
    ctx = AppContext.build(Settings(data_dir=data_dir, database_url=database_url))
    try:
        await ctx.db.upgrade()
        async with ctx.db.session() as session:
            created = await first_run(session, ctx=ctx)
            assert created is not None, f"{data_dir} is not a fresh data dir"
            await routing.ensure_default_simulator(session, ctx=ctx)
        async with ctx.db.session() as session:
            await routing.update_connector(
                session,
                ctx=ctx,
                actor=accounts.CLI_ACTOR,
                ref=routing.DEFAULT_CONNECTOR,
                req=ConnectorUpdate(settings=simulator),
            )
            await billing.topup(
                session,
                actor=accounts.CLI_ACTOR,
                tenant_id=created.tenant_id,
                amount=balance_fen,
                note="benchmark balance",
            )
            no_limit: dict[str, Any] = {"verification": [], "notification": [], "marketing": []}
            await limits.set_limits(
                session,
                ctx=ctx,
                actor=accounts.CLI_ACTOR,
                tenant_id=created.tenant_id,
                req=LimitsUpdate.model_validate({"rules": no_limit}),
            )
    finally:
        await ctx.db.dispose()
    key = created.tenant_key
    return Credentials(created.tenant_id, key.key.id, key.secret, created.sign)


async def accept_backlog(
    data_dir: Path, creds: Credentials, *, count: int, first: int = 0, body: str = ""
) -> float:
    """Accept ``count`` messages through the messages service (batches of 1,000), no server.

    The real accept path (validation, price, hold, rows, events, statistics) in this process,
    before ``hongyan run`` starts: the worker then finds them all queued. Returns the seconds.
    """
    from hongyan.accounts.auth import RequestParts
    from hongyan.api.context import AppContext
    from hongyan.config import Settings
    from hongyan.messages import service
    from hongyan.messages.schemas import BatchRequest

    forget_hongyan_env()
    ctx = AppContext.build(Settings(data_dir=data_dir))
    parts = RequestParts("POST", "/v1/messages/batch", "", {}, b"")
    principal = await ctx.auth.authenticate(creds.authorization, parts)
    began = time.perf_counter()
    try:
        for start in range(first, first + count, 1000):
            size = min(1000, first + count - start)
            req = BatchRequest.model_validate(
                {
                    "sign": creds.sign,
                    "body": body or "您的订单已发货，请注意查收",
                    "recipients": [{"to": number(start + i)} for i in range(size)],
                }
            )
            async with ctx.db.session() as session:
                done = await service.send_batch(session, ctx=ctx, principal=principal, req=req)
            if done.rejected:
                raise RuntimeError(f"refused: {done.rejected[0][1].code}")
    finally:
        await ctx.db.dispose()
    return time.perf_counter() - began


def number(serial: int) -> str:
    """A valid CN mobile number of its own for each serial below 10**8."""
    return f"+86139{serial % 10**8:08d}"


class Server:
    """``python -m hongyan run`` on a free port with a given data dir; stopped by its pid."""

    def __init__(
        self, data_dir: Path, *, env: dict[str, str] | None = None, python: list[str] | None = None
    ) -> None:
        self.data_dir = data_dir
        # What runs ``hongyan``: normally ``python -m hongyan``; a profiler wrapper when asked.
        self.python = python or [sys.executable, "-m", "hongyan"]
        self.port = free_port()
        self.log_path = data_dir / "server.log"
        self.env = clean_env(COLUMNS="200", HONGYAN_LOG_FORMAT="json", **(env or {}))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until /readyz answers 200."""
        cmd = [*self.python, "run"]
        cmd += ["--data-dir", str(self.data_dir), "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        wait_ready(self.url + "/readyz", self.proc, timeout)

    def stop(self) -> None:
        """SIGINT (a clean shutdown), then SIGKILL if it does not exit within 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc/<pid>/status."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+|NaN)$")


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def summary(scenario: str, rows: list[dict[str, Any]]) -> None:
    """Print the figures as one JSON line for bench/run.py (label, figure, baseline, ratio...)."""
    print(SUMMARY_PREFIX + json.dumps({"scenario": scenario, "rows": rows}, ensure_ascii=False))


def run_async(main: Any) -> Any:
    """asyncio.run, kept in one place so every script runs its loop the same way."""
    return asyncio.run(main)
