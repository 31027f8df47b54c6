"""A tiny HTTP server on 127.0.0.1 that writes down every GET: Kannel's dlr-url lands here.

It runs in a thread of its own, so a test's event loop (where the SMSC under test runs) is never
blocked by it, and Kannel's smsbox is answered even while the test awaits something else.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Hit:
    """One request as it arrived: its path and its query parameters (last value wins)."""

    path: str
    params: dict[str, str]


class HttpRecorder:
    """Answers every GET with 200 and keeps it in ``hits``, in arrival order."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (which may carry a query with Kannel escapes)."""
        return f"http://127.0.0.1:{self.port}{path}"

    def matching(self, path: str, where: Callable[[Hit], bool] | None = None) -> list[Hit]:
        """The hits on ``path`` so far (those ``where`` accepts, if given)."""
        with self._lock:
            return [h for h in self.hits if h.path == path and (where is None or where(h))]

    async def wait_for(
        self,
        path: str,
        count: int,
        timeout_secs: float = 15.0,
        where: Callable[[Hit], bool] | None = None,
    ) -> list[Hit]:
        """Wait (polling, bounded) until ``path`` was hit ``count`` times; returns those hits."""
        try:
            async with asyncio.timeout(timeout_secs):
                while len(self.matching(path, where)) < count:  # noqa: ASYNC110 - another thread's
                    await asyncio.sleep(0.05)
        except TimeoutError:
            got = self.matching(path)
            raise AssertionError(
                f"{path}: {len(self.matching(path, where))} of {count} requests within"
                f" {timeout_secs} s; all: {got}"
            ) from None
        return self.matching(path, where)

    def __enter__(self) -> HttpRecorder:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, raw_path: str) -> None:
        parts = urlsplit(raw_path)
        hit = Hit(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)))
        with self._lock:
            self.hits.append(hit)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder._record(self.path)
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test reads ``hits``, not stderr."""

        return Handler
