"""The processes of the scale-out test: a database of its own, API and worker processes.

Every process is started with ``subprocess.Popen`` and stopped by its pid (SIGTERM, then
SIGKILL after a bounded wait); their output goes to one log file each, shown when a check
fails. Workers run ``hongyan worker`` through ``tests.e2e.crash_worker``, whose simulator
writes each accepted message id to a shared file, so submissions are counted across
processes, including the one killed with SIGKILL.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import POSTGRES_URL, _pg_parts
from tests.e2e.scale_peers import free_port

ROOT = Path(__file__).resolve().parents[2]
STOP_WAIT_SECS = 10.0


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A new, EMPTY PostgreSQL database (the test migrates it with the CLI); dropped after."""
    assert POSTGRES_URL, "HONGYAN_TEST_POSTGRES_URL not set"
    server, admin_db = _pg_parts(POSTGRES_URL)
    name = f"hongyan_scale_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(f"{server}/{admin_db}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://{server.split('://', 1)[1]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Fleet:
    """Every process this test started; ``stop_all`` ends them by pid whatever happened."""

    env: dict[str, str]
    log_dir: Path
    procs: list[Process] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``hongyan <args>`` to completion with the fleet's settings; its output."""
        done = subprocess.run(
            [sys.executable, "-m", "hongyan", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        found = Process(name, proc, log)
        self.procs.append(found)
        return found

    def serve(self, name: str) -> Process:
        """``hongyan serve`` on a free port (the API only)."""
        port = free_port()
        argv = [sys.executable, "-m", "hongyan", "serve", "--port", str(port)]
        found = self._start(name, argv, self.env)
        found.port = port
        return found

    def worker(self, name: str) -> Process:
        """``hongyan worker`` with the submit-logging simulator (tests.e2e.crash_worker), its
        metrics served on a free port."""
        argv = [sys.executable, "-m", "tests.e2e.crash_worker"]
        port = free_port()
        found = self._start(name, argv, {**self.env, "HONGYAN_WORKER_METRICS_PORT": str(port)})
        found.port = port
        return found

    def wait_ready(self, api: Process, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert api.alive(), f"{api.name} exited early\n{self.output()}"
            try:
                if httpx.get(api.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{api.name} not ready after {timeout:.0f} s\n{self.output()}")

    def kill(self, victim: Process) -> None:
        """SIGKILL: no cleanup of any kind, as a machine that lost power."""
        os.kill(victim.pid, signal.SIGKILL)
        victim.proc.wait(timeout=STOP_WAIT_SECS)

    def stop_all(self) -> None:
        """SIGTERM every live process, then SIGKILL those still alive after a bounded wait."""
        for p in self.procs:
            if p.alive():
                p.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_SECS
        for p in self.procs:
            try:
                p.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.proc.wait(timeout=STOP_WAIT_SECS)

    def output(self, tail: int = 40) -> str:
        parts = []
        for p in self.procs:
            lines = p.log.read_text(errors="replace").splitlines() if p.log.exists() else []
            parts.append(f"--- {p.name} (pid {p.pid}, exit {p.proc.poll()}):")
            parts += lines[-tail:]
        return "\n".join(parts)


def metric(process: Process, name: str, **labels: str) -> float:
    """The sum of a metric's samples (with these labels) a process serves at /metrics."""
    body = httpx.get(process.url + "/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def submitted(path: Path) -> Counter[str]:
    """Message ids the simulators accepted, with how often (all worker processes)."""
    return Counter(path.read_text().split()) if path.exists() else Counter()
