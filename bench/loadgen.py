"""A small HTTP/1.1 load generator: keep-alive connections on ``asyncio.Protocol``, nothing else.

    python bench/loadgen.py URL --clients 16 --seconds 10 [--rate R] [--auth HEADER] ...

Run by the S1 script in a process of its own, so its CPU is not the server's. It prints one
JSON line: requests completed in the measured window, requests/s, status counts and latency
percentiles.

- Without ``--rate`` (closed loop): each of ``--clients`` connections sends its next request
  as soon as the previous answer is in: the peak the server sustains with that many clients.
- With ``--rate`` (open loop, paced): request i is due at ``start + i / rate``; whichever
  connection is free takes the next due request. Latency is counted from when the request
  was due, not from when it was sent, so a server that falls behind shows it in the
  percentiles (no coordinated omission).

Each request body is the ``--body`` JSON with ``{n}`` replaced by a serial number, so every
request goes to a different phone number. Lighter than httpx on the client side (a raw
protocol with pre-built headers), so one core of client keeps ahead of a one-core server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from urllib.parse import urlsplit

_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        match = _LENGTH.search(self.buffer, 0, end + 2)
        total = end + 4 + (int(match.group(1)) if match else 0)
        if len(self.buffer) < total:
            return
        status = int(self.buffer[9:12])
        del self.buffer[:total]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    async def request(self, data: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


class Load:
    """The shared state of one run: request serials, results of the measured window."""

    def __init__(self, args: argparse.Namespace) -> None:
        url = urlsplit(args.url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        head = f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        head += "Content-Type: application/json\r\n"
        if args.auth:
            head += f"Authorization: {args.auth}\r\n"
        self.head = head.encode()
        self.body = args.body
        self.first = self.serial = args.first
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.window_start = self.window_end = 0.0

    def next_request(self) -> bytes:
        body = self.body.replace("{n}", f"{self.serial:08d}").encode()
        self.serial += 1
        return self.head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    def record(self, due: float, done: float, status: int) -> None:
        if self.window_start <= due and done <= self.window_end:
            self.latencies.append(done - due)
            self.statuses[status] = self.statuses.get(status, 0) + 1


async def _open(load: Load) -> _Connection:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(_Connection, load.host, load.port)
    return conn


async def closed_client(load: Load, conn: _Connection) -> None:
    """Send back to back until the window ends."""
    while time.perf_counter() < load.window_end:
        sent = time.perf_counter()
        try:
            status = await conn.request(load.next_request())
        except ConnectionError:
            load.errors += 1
            return
        load.record(sent, time.perf_counter(), status)


async def paced_client(load: Load, conn: _Connection, rate: float, start: float) -> None:
    """Take the next due request, wait for its time, send it; until the window ends."""
    while True:
        index = load.serial
        due = start + (index - load.first) / rate
        if due >= load.window_end:
            return
        request = load.next_request()
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            status = await conn.request(request)
        except ConnectionError:
            load.errors += 1
            return
        load.record(due, time.perf_counter(), status)


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    load = Load(args)
    conns = [await _open(load) for _ in range(args.clients)]
    start = time.perf_counter()
    load.window_start = start + args.warmup
    load.window_end = load.window_start + args.seconds
    if args.rate:
        clients = [paced_client(load, c, args.rate, start) for c in conns]
    else:
        clients = [closed_client(load, c) for c in conns]
    await asyncio.gather(*clients)
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    latencies = sorted(load.latencies)
    ms = [v * 1000 for v in latencies]
    return {
        "requests": len(latencies),
        "rate": len(latencies) / args.seconds,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "errors": load.errors,
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1] if ms else float("nan"),
        "next_serial": load.serial,
    }


def main() -> None:
    """Parse arguments, run, print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=2.0, help="sent, not counted")
    parser.add_argument("--rate", type=float, help="paced: requests/s (default: closed loop)")
    parser.add_argument("--auth", help="Authorization header value")
    parser.add_argument("--body", required=True, help="JSON with {n} for the serial number")
    parser.add_argument("--first", type=int, default=0, help="first serial number")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
