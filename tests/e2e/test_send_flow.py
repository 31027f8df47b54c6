"""The README flow end to end: `hongyan run`, the printed send curl, queued -> sent ->
delivered through the simulator, and the status webhook arriving signed at a real server."""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx

from hongyan.webhooks.verify import SIGNATURE_HEADER, verify_signature
from tests.e2e.test_run import _free_port, _start, _stop, _wait_ready


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def _wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_printed_send_curl_is_delivered_and_the_webhook_arrives_signed(tmp_path: Path) -> None:
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    port = _free_port()
    proc = _start(tmp_path, port)
    try:
        _wait_ready(port, proc)
        # The keys are printed once, on the first run: read the banner while it runs.
        base = f"http://127.0.0.1:{port}"
        banner = _banner(proc)
        send_curl = next(line for line in banner if "/v1/messages" in line)
        key = shlex.split(send_curl)[2]
        endpoint = httpx.post(
            f"{base}/v1/webhooks",
            auth=tuple(key.split(":", 1)),
            json={"url": f"http://127.0.0.1:{hook.server_address[1]}/hook", "events": ["*"]},
        )
        assert endpoint.status_code == 201, endpoint.text
        secret = endpoint.json()["secret"]
        sent = subprocess.run(
            [*shlex.split(send_curl), "-s"], capture_output=True, text=True, timeout=10, check=True
        )
        message = json.loads(sent.stdout)
        assert message["status"] == "queued", message

        def status() -> str:
            got = httpx.get(f"{base}/v1/messages/{message['id']}", auth=tuple(key.split(":", 1)))
            return str(got.json()["status"])

        _wait_for(lambda: status() == "delivered")
        history = httpx.get(
            f"{base}/v1/messages/{message['id']}", auth=tuple(key.split(":", 1))
        ).json()["history"]
        assert [h["status"] for h in history][:1] == ["queued"]
        assert {"sending", "sent", "delivered"} <= {h["status"] for h in history}
        _wait_for(lambda: any(b'"message.delivered"' in body for _, body in _Receiver.received))
    finally:
        _stop(proc)
        hook.shutdown()
    for headers, body in _Receiver.received:
        assert verify_signature(secret, headers[SIGNATURE_HEADER.lower()], body)
    events = [json.loads(body)["type"] for _, body in _Receiver.received]
    assert "message.sent" in events and "message.delivered" in events


def _banner(proc: subprocess.Popen[str]) -> list[str]:
    """Lines printed so far, up to the send curl (stdout is read line by line, not to EOF)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line.strip())
        if "/v1/messages" in line:
            return lines
    raise AssertionError("no send curl printed:\n" + "\n".join(lines))
