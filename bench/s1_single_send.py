"""S1 single send: ``POST /v1/messages`` on ``hongyan run`` (embedded SQLite) vs a bare endpoint.

    .venv/bin/python bench/s1_single_send.py [--clients 16] [--seconds 10] [--rounds 2]
                                             [--py-spy FILE] [--proto-write-lock]

Every request is one free-text message (the demo sign, a one-segment Chinese text) to a
number of its own, sent by ``bench/loadgen.py`` in a process of its own over --clients
keep-alive connections with HTTP Basic auth. Two servers run side by side on free ports of
127.0.0.1, each in its own process:

- the same-run baseline, ``bench/bare_starlette.py``: a bare Starlette endpoint (uvicorn, same
  options) that parses the same JSON and writes one row to SQLite (WAL, synchronous=NORMAL,
  as Hongyan sets it), one transaction per request;
- ``hongyan run`` with a fresh data dir (the demo tenant with a big balance and no per-number
  limits; the default simulator connector, every message delivered a second later): each
  accepted message is also dispatched, sent and its receipt applied in the same process.

After a warm-up of each: peaks (closed loop: every connection sends again as soon as it has
its answer) for --seconds, in --rounds alternating rounds (the machine is shared and drifts),
averaged; then each server paced (open loop) at 70% of its own peak: p50/p99 latency counted
from when each request was due, so a server that falls behind shows it. Last, the same
requests to hongyan with ``send_at`` a day ahead: the same accept path (checks, price, hold,
rows), but the worker has nothing to send: the API path alone.

Target: hongyan's peak >= 0.5x the baseline's; p99 <= 50 ms at 70% of its peak.
``--py-spy FILE`` records a profile of hongyan during one extra (uncounted) peak window
(py-spy on PATH or beside this Python). ``--proto-write-lock`` runs hongyan through
``bench/proto_write_lock.py``, the earlier prototype of one writer at a time (whole sessions,
reads included), on top of what shipped instead (``hongyan.kit.write_turns``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness
import httpx

TEXT = "您的验证码是123456，5分钟内有效"


class Bare:
    """The baseline server process (bench/bare_starlette.py)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = harness.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        script = harness.BENCH_DIR / "bare_starlette.py"
        cmd = [sys.executable, str(script), "--port", str(self.port)]
        self.cmd = [*cmd, "--db", str(data_dir / "bare.db")]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Bare:
        self.proc = subprocess.Popen(self.cmd, env=harness.clean_env())
        harness.wait_ready(self.url + "/healthz", self.proc, 30)
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def cpu_secs(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Load:
    """Runs bench/loadgen.py against one URL; every request gets a number of its own."""

    def __init__(
        self, url: str, body: dict[str, Any], auth: str, args: argparse.Namespace, pid: int
    ):
        self.url = url
        self.body = json.dumps(body, ensure_ascii=False)
        self.auth = auth
        self.args = args
        self.pid = pid  # the server's: its CPU per request is printed beside the rates
        self.serial = 0
        self.cpu_ms: list[float] = []  # per peak window

    def run(self, *, rate: float | None = None) -> dict[str, Any]:
        cmd = [sys.executable, str(harness.BENCH_DIR / "loadgen.py"), self.url + "/v1/messages"]
        cmd += ["--clients", str(self.args.clients), "--seconds", str(self.args.seconds)]
        cmd += ["--body", self.body, "--auth", self.auth, "--first", str(self.serial)]
        if rate:
            cmd += ["--rate", f"{rate:.1f}"]
        cpu_before = cpu_secs(self.pid)
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
        result: dict[str, Any] = json.loads(done.stdout)
        # CPU per request (warm-up requests included, as its CPU is): steadier than rates
        # when other work shares the machine.
        sent = max(1, int(result["next_serial"]) - self.serial)
        result["cpu_ms"] = (cpu_secs(self.pid) - cpu_before) * 1000 / sent
        self.serial = int(result["next_serial"])
        refused = {k: v for k, v in result["statuses"].items() if k != "202"}
        if refused or result["errors"]:
            print(f"    answers other than 202: {refused}, connection errors {result['errors']}")
        return result

    def peak(self, label: str) -> float:
        """Closed loop: requests/s."""
        result = self.run()
        rate = float(result["rate"])
        print(f"  {label}: peak {rate:,.0f} req/s, server CPU {result['cpu_ms']:.2f} ms/req")
        self.cpu_ms.append(float(result["cpu_ms"]))
        return rate

    def paced(self, label: str, rate: float) -> dict[str, Any]:
        """Open loop at ``rate``: the latency figures."""
        result = self.run(rate=rate)
        print(f"  {label}: at {result['rate']:,.0f} req/s: p50 {result['p50_ms']:.1f} ms, "
              f"p99 {result['p99_ms']:.1f} ms", flush=True)  # fmt: skip
        return result


def body(to: str, **extra: Any) -> dict[str, Any]:
    return {"to": to, "sign": harness.DEMO_SIGN, "body": TEXT, **extra}


def settle(server: harness.Server, timeout: float = 60.0) -> None:
    """Wait until the worker has sent and got receipts for what was accepted (counts still)."""
    last: tuple[float, ...] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = httpx.get(server.url + "/metrics", timeout=10).text
        now = tuple(
            harness.metric_sum(text, "hongyan_messages_total", status=s)
            for s in ("sent", "delivered")
        )
        if now == last:
            return
        last = now
        time.sleep(1.5)


def profiled(server: harness.Server, seconds: float, out: str) -> subprocess.Popen[bytes] | None:
    """py-spy on the server for ``seconds``, if py-spy is there."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        print("  (py-spy not found: no profile)")
        return None
    # Non-blocking and 100 Hz: py-spy's default (pausing the process 200 times a second)
    # slowed the server several times over.
    cmd = [spy, "record", "-p", str(server.pid), "-d", str(int(seconds)), "-r", "100"]
    cmd += ["--nonblocking"]
    cmd += ["-f", "raw", "-o", out]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(path: str, top: int = 25) -> None:
    """Inclusive share of the event loop thread's samples, by function of ours and the ORM's."""
    counts: Counter[str] = Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "_run_module_as_main" not in stack:
            continue  # the event loop thread only (aiosqlite's threads wait on it)
        total += int(count)
        frames = {f.rsplit(":", 1)[0] for f in stack.split(";")}
        for frame in frames:
            if "hongyan/" in frame or "EpollSelector.select" in frame:
                counts[frame] += int(count)
    print(f"\n  profile of the event loop thread ({total:,} samples), inclusive:")
    for frame, count in counts.most_common(top):
        print(f"    {count / total:6.1%}  {frame}")


def compare(args: argparse.Namespace, bare: Load, main: Load) -> dict[str, Any]:
    """Peaks of both in alternating rounds (the machine drifts), then each paced at 70%."""
    peaks: dict[str, list[float]] = {"bare": [], "hongyan": []}
    for index in range(args.rounds):
        pair = (("bare", bare), ("hongyan", main))
        for key, load in pair if index % 2 == 0 else pair[::-1]:
            peaks[key].append(load.peak(f"round {index + 1}, {key}"))
    results: dict[str, Any] = {}
    for key, load in (("bare", bare), ("hongyan", main)):
        peak = statistics.mean(peaks[key])
        results[key] = {"peaks": peaks[key], "peak": peak, "cpu_ms": _counted_cpu(load),
                        "paced": load.paced(f"{key} at 70%", 0.7 * peak)}  # fmt: skip
    return results


def _counted_cpu(load: Load) -> float:
    """Mean server CPU per request over the counted peak windows (the warm-up's left out)."""
    return statistics.mean(load.cpu_ms[1:] or load.cpu_ms)


def accept_only(args: argparse.Namespace, main: Load) -> dict[str, Any]:
    """Phase 3: the same requests with send_at a day ahead (the worker has nothing to do)."""
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    main.body = json.dumps(body("+86139{n}", send_at=later), ensure_ascii=False)
    main.cpu_ms = []
    peaks = [main.peak("accept only") for _ in range(args.rounds)]
    peak = statistics.mean(peaks)
    cpu = statistics.mean(main.cpu_ms)
    return {"peaks": peaks, "peak": peak, "cpu_ms": cpu,
            "paced": main.paced("accept only at 70%", 0.7 * peak)}  # fmt: skip


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Both servers up side by side; the phases; both stopped."""
    data_dir = tmp / "hongyan"
    simulator = {"latency_ms": 0, "rules": []}  # every message delivered, 1 s later
    creds = asyncio.run(harness.prepare(data_dir, simulator=simulator))
    python = None
    if args.proto_write_lock:
        python = [sys.executable, str(harness.BENCH_DIR / "proto_write_lock.py")]
    with Bare(tmp) as bare, harness.Server(data_dir, python=python) as server:
        # The same bytes on the wire, Authorization included (the baseline ignores it).
        bare_load = Load(bare.url, body("+86139{n}"), creds.authorization, args, bare.pid)
        main = Load(server.url, body("+86139{n}"), creds.authorization, args, server.pid)
        bare_load.peak("warm-up, bare")  # first requests of each: imports, caches, pages
        main.peak("warm-up, hongyan")
        settle(server)
        results = compare(args, bare_load, main)
        if args.py_spy:
            spy = profiled(server, args.seconds + 2, args.py_spy)
            main.peak("hongyan, profiled (not counted)")
            if spy is not None:
                spy.wait()
                print_profile(args.py_spy)
        settle(server)
        results["scheduled"] = accept_only(args, main)
    return results


def report(results: dict[str, Any]) -> None:
    """The table, verdicts and summary line."""
    bare, main = results["bare"], results["hongyan"]
    base = bare["peak"]
    print(f"\n{'server':<38}{'peak req/s':>11}{'ratio':>7}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU ms/req':>11}  at 70% (req/s); peak rounds")  # fmt: skip
    for label, key in (("bare Starlette + SQLite (baseline)", "bare"),
                       ("hongyan run, sending", "hongyan"),
                       ("hongyan run, accept only (send_at)", "scheduled")):  # fmt: skip
        peak, paced = results[key]["peak"], results[key]["paced"]
        rounds = ", ".join(f"{r:,.0f}" for r in results[key]["peaks"])
        print(
            f"{label:<38}{peak:>11,.0f}{peak / base:>6.2f}x"
            f"{paced['p50_ms']:>9.1f}{paced['p99_ms']:>9.1f}{results[key]['cpu_ms']:>11.2f}"
            f"  ({paced['rate']:,.0f}); {rounds}"
        )
    ratio = main["peak"] / base
    p99 = main["paced"]["p99_ms"]
    print(
        f"\nthroughput target >= 0.5x: {'met' if ratio >= 0.5 else 'MISSED'} ({ratio:.2f}x); "
        f"p99 <= 50 ms at 70%: {'met' if p99 <= 50 else 'MISSED'} ({p99:.0f} ms)"
    )
    harness.summary(
        "s1",
        [{"label": "S1 POST /v1/messages peak", "figure": f"{main['peak']:,.0f} req/s",
          "baseline": f"{base:,.0f} req/s bare", "ratio": f"{ratio:.2f}x",
          "target": ">= 0.5x", "met": ratio >= 0.5},
         {"label": "S1 p99 at 70% of peak", "figure": f"{p99:.0f} ms",
          "baseline": f"{bare['paced']['p99_ms']:.0f} ms bare", "ratio": "-",
          "target": "<= 50 ms", "met": p99 <= 50}],
    )  # fmt: skip


def main() -> None:
    """Parse arguments and run the three servers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="each measured window")
    parser.add_argument("--rounds", type=int, default=2, help="alternating peak rounds")
    parser.add_argument("--py-spy", metavar="FILE", help="profile hongyan's peak into FILE")
    parser.add_argument(
        "--proto-write-lock",
        action="store_true",
        help="run hongyan with bench/proto_write_lock.py (the earlier prototype, not shipped)",
    )
    args = parser.parse_args()
    proto = "; PROTOTYPE one SQLite transaction at a time" if args.proto_write_lock else ""
    print(f"S1 single send; {harness.machine()}; {args.clients} clients{proto}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hongyan-bench-s1-") as tmp:
        results = run(args, Path(tmp))
    report(results)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
