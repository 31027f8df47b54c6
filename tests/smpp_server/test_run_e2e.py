"""`hongyan run` with the SMPP server on: smpplib binds, submits, and gets the simulator's receipt.

The whole path in one real process: a credential issued with the CLI, a bind, the pipeline,
the dispatcher sending through the default simulator connector, its receipt applied, and the
receipt delivered back over SMPP. Processes are stopped by pid with a bounded wait.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import smpplib.client
import smpplib.consts
import smpplib.gsm

from tests.cli_kit import as_json
from tests.e2e.test_run import _free_port, _wait_ready

TENANT = re.compile(r"Demo tenant:\s+(ten_\w+)")
SIGN = re.compile(r'"sign": "([^"]+)"')


def _start(data_dir: Path, port: int, smpp_port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGYAN_")}
    env.update(
        COLUMNS="200",
        HONGYAN_SMPP_SERVER_ENABLED="true",
        HONGYAN_SMPP_SERVER_PORT=str(smpp_port),
    )
    # Output to a file, not a pipe: a pipe nobody reads would block the process once full.
    with (data_dir / "run.log").open("wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hongyan",
                "run",
                "--data-dir",
                str(data_dir),
                "--port",
                f"{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _banner(data_dir: Path) -> str:
    """The first-run banner, once printed up to the curl that sends (tenant id and sign)."""
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline:
        text = (data_dir / "run.log").read_text("utf-8", "replace")
        if "/v1/messages" in text:
            return text
        time.sleep(0.1)
    raise AssertionError("no banner: " + text)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_run_serves_smpp_end_to_end(data_dir: Path) -> None:
    port, smpp_port = _free_port(), _free_port()
    proc = _start(data_dir, port, smpp_port)
    client = smpplib.client.Client(
        "127.0.0.1", smpp_port, timeout=10, allow_unknown_opt_params=True
    )
    try:
        _wait_ready(port, proc)  # type: ignore[arg-type]  # it reads only poll()
        banner = _banner(data_dir)
        tenant = TENANT.search(banner)
        sign = SIGN.search(banner)
        assert tenant and sign, banner
        created = as_json(
            data_dir, "smpp", "credentials", "create", "--tenant", tenant.group(1),
            "--system-id", "demo01",
        )  # fmt: skip
        answers: list[tuple[int, str]] = []
        receipts: list[object] = []
        client.set_message_sent_handler(
            lambda pdu: answers.append((int(pdu.status), pdu.message_id.decode()))
        )
        client.set_message_received_handler(lambda pdu: receipts.append(pdu))
        client.connect()
        client.bind_transceiver(system_id="demo01", password=created["password"])
        parts, coding, esm_class = smpplib.gsm.make_parts(f"【{sign.group(1)}】您的验证码是654321")
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
            source_addr="DEMO",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            destination_addr="8613912345678",
            short_message=parts[0],
            data_coding=coding,
            esm_class=esm_class,
            registered_delivery=1,
        )
        deadline = time.monotonic() + 30
        while not receipts and time.monotonic() < deadline:
            client.read_once()
        assert answers and answers[0][0] == 0, answers
        assert receipts, "no receipt within 30 s"
        receipt = receipts[0]
        assert receipt.receipted_message_id.rstrip(b"\0").decode() == answers[0][1]
        assert b"stat:DELIVRD" in receipt.short_message
        client.unbind()
    finally:
        client.disconnect()
        _stop(proc)
