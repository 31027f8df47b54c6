"""`hongyan run` as a user runs it: first run prints a curl that works; a rerun reuses the data."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CURL = re.compile(r"^curl -u (\S+):(\S+) (\S+)$", re.M)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGYAN_")}
    env["COLUMNS"] = "200"
    return subprocess.Popen(
        [sys.executable, "-m", "hongyan", "run", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_ready(port: int, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "hongyan run exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("hongyan run did not become ready")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_first_run_prints_working_curl_and_second_run_reuses_data(tmp_path: Path) -> None:
    port = _free_port()
    proc = _start(tmp_path, port)
    try:
        _wait_ready(port, proc)
    finally:
        first_output = _stop(proc)
    match = CURL.search(first_output)
    assert match, first_output
    key_id, secret, url = match.groups()
    assert (tmp_path / "hongyan.db").exists() and (tmp_path / "secret.key").exists()
    assert secret not in first_output.replace(match.group(0), "").split("Tenant secret:")[0]

    proc = _start(tmp_path, port)
    try:
        _wait_ready(port, proc)
        # the curl printed on the first run, run as printed, against the second process
        done = subprocess.run(
            [*shlex.split(match.group(0)), "-s"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        assert '"name":"demo"' in done.stdout
        assert httpx.get(url, auth=(key_id, secret)).json()["name"] == "demo"
    finally:
        second_output = _stop(proc)
    assert "Operator secret" not in second_output and secret not in second_output
