"""Running a fake vendor's ASGI app on a real socket of 127.0.0.1, on a free port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn


@contextlib.contextmanager
def serve_in_thread(
    app: Any, *, on_stop: Callable[[], None] = lambda: None, graceful_secs: float | None = None
) -> Iterator[str]:
    """Serve ``app`` from a thread of its own; yields its base URL.

    ``on_stop`` runs before the server is told to exit, so a fake can release requests it is
    holding back (a simulated time-out) instead of making shutdown wait for them.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", timeout_graceful_shutdown=graceful_secs
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        on_stop()
        server.should_exit = True
        thread.join(10)
        sock.close()
