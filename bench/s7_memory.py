"""S7 memory: RSS of ``hongyan run`` idle, and with 100,000 messages in flight.

    .venv/bin/python bench/s7_memory.py [--messages 100000] [--skip-scheduled]

RSS is read from /proc/<pid>/status of the server process: VmRSS (now) and VmHWM (peak).

1. Idle: a fresh data dir (demo tenant, big balance, no per-number limits), ``hongyan run``
   started, RSS read once it answers /readyz; then a few requests (tenant, five sends, one
   message with its history, a list, /metrics, the error catalog), a pause, and RSS again.
2. In flight, waiting for receipts: the simulator connector accepts at once but sends its
   receipts only after an hour. --messages messages are sent through the API (``POST
   /v1/messages/batch``, 1,000 recipients a request, one client), the dispatcher sends them
   all; once /metrics counts them all ``sent`` they are in flight (accepted, not final: each
   waits for its receipt, which the simulator holds in memory as a real SMSC would) and RSS is
   read. This is the heavier case: the process holds a timer entry per part.
3. In flight, scheduled (unless --skip-scheduled): a second fresh server gets the same
   messages with ``send_at`` a day ahead; they stay ``scheduled`` (in the database only).

Targets: idle <= 120 MiB, in flight <= 300 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness
import httpx

MIB = 1024  # /proc reports KiB
HOUR_MS = 3_600_000


def mib(status: dict[str, int]) -> str:
    return f"VmRSS {status['VmRSS'] / MIB:>4.0f} MiB, VmHWM {status['VmHWM'] / MIB:>4.0f} MiB"


def a_few_requests(client: httpx.Client, creds: harness.Credentials) -> None:
    """What a first look at the API does: enough to load the request path's code and caches."""
    client.get("/v1/tenant").raise_for_status()
    ids = []
    for n in range(5):
        body = {
            "to": harness.number(90_000_000 + n),
            "sign": creds.sign,
            "body": "您的验证码是1234",
        }
        response = client.post("/v1/messages", json=body)
        response.raise_for_status()
        ids.append(response.json()["id"])
    client.get(f"/v1/messages/{ids[0]}").raise_for_status()
    client.get("/v1/messages", params={"limit": 20}).raise_for_status()
    client.get("/metrics").raise_for_status()
    client.get("/v1/errors").raise_for_status()


def send_all(client: httpx.Client, creds: harness.Credentials, count: int, **extra: Any) -> float:
    """``count`` messages through the batch endpoint; seconds taken."""
    began = time.perf_counter()
    for start in range(0, count, 1000):
        size = min(1000, count - start)
        body = {
            "sign": creds.sign,
            "body": "您的订单已发货，请注意查收",
            "recipients": [{"to": harness.number(start + i)} for i in range(size)],
            **extra,
        }
        response = client.post("/v1/messages/batch", json=body)
        response.raise_for_status()
        if response.json()["rejected"]:
            raise RuntimeError(f"refused: {response.json()['rejected'][0]}")
    return time.perf_counter() - began


def wait_sent(client: httpx.Client, count: int, timeout: float) -> float:
    """Wait until /metrics counts ``count`` messages sent; seconds waited."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        text = client.get("/metrics").text
        if harness.metric_sum(text, "hongyan_messages_total", status="sent") >= count:
            return time.perf_counter() - began
        time.sleep(0.5)
    raise RuntimeError(f"not all {count:,} sent after {timeout:.0f} s")


def serve(data_dir: Path, simulator: dict[str, Any]) -> tuple[harness.Server, harness.Credentials]:
    creds = asyncio.run(harness.prepare(data_dir, simulator=simulator))
    server = harness.Server(data_dir)
    server.start()
    return server, creds


def idle_and_receipts(args: argparse.Namespace, data_dir: Path) -> dict[str, dict[str, int]]:
    """Steps 1 and 2 on one server."""
    found: dict[str, dict[str, int]] = {}
    simulator = {"latency_ms": 0, "receipt_delay_ms": HOUR_MS, "rules": []}
    server, creds = serve(data_dir, simulator)
    try:
        found["started"] = harness.proc_status(server.pid)
        headers = {"Authorization": creds.authorization}
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            a_few_requests(client, creds)
            time.sleep(2)
            found["idle"] = harness.proc_status(server.pid)
            print(f"  started:                 {mib(found['started'])}")
            print(f"  idle, after a few calls: {mib(found['idle'])}", flush=True)
            took = send_all(client, creds, args.messages)
            waited = wait_sent(client, args.messages + 5, args.timeout)
            found["receipts"] = harness.proc_status(server.pid)
        print(f"  {args.messages:,} accepted in {took:.0f} s, all sent {waited:.0f} s later")
        print(f"  in flight (sent, receipts due in an hour): {mib(found['receipts'])}", flush=True)
    finally:
        server.stop()
    return found


def scheduled(args: argparse.Namespace, data_dir: Path) -> dict[str, int]:
    """Step 3 on a second server."""
    server, creds = serve(data_dir, {"latency_ms": 0, "rules": []})
    try:
        headers = {"Authorization": creds.authorization}
        send_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            a_few_requests(client, creds)
            took = send_all(client, creds, args.messages, send_at=send_at)
            time.sleep(2)
            found = harness.proc_status(server.pid)
        print(f"  {args.messages:,} scheduled in {took:.0f} s: {mib(found)}", flush=True)
    finally:
        server.stop()
    return found


def report(args: argparse.Namespace, found: dict[str, dict[str, int]]) -> None:
    """The table against the targets, and the summary line."""
    rows = [("idle (after a few requests)", found["idle"], 120)]
    rows.append((f"{args.messages:,} in flight, awaiting receipts", found["receipts"], 300))
    if "scheduled" in found:
        rows.append((f"{args.messages:,} in flight, scheduled", found["scheduled"], 300))
    print(f"\n{'':<40}{'VmRSS':>10}{'VmHWM (peak)':>14}{'target':>10}")
    summary = []
    for label, status, target in rows:
        rss, peak = status["VmRSS"] / MIB, status["VmHWM"] / MIB
        met = rss <= target  # the target is on RSS; the peak is shown beside it
        verdict = "met" if met else "MISSED"
        print(f"{label:<40}{rss:>6.0f} MiB{peak:>10.0f} MiB{target:>6} MiB  {verdict}")
        figure = f"{rss:.0f} MiB (peak {peak:.0f})"
        summary.append({"label": f"S7 RSS {label}", "figure": figure, "baseline": "-",
                        "ratio": "-", "target": f"<= {target} MiB", "met": met})  # fmt: skip
    harness.summary("s7", summary)


def main() -> None:
    """Parse arguments and run the scenario."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=300.0, help="for all to be sent")
    parser.add_argument("--skip-scheduled", action="store_true")
    args = parser.parse_args()
    print(f"S7 memory; {harness.machine()}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hongyan-bench-s7-") as tmp:
        found = idle_and_receipts(args, Path(tmp) / "receipts")
        if not args.skip_scheduled:
            found["scheduled"] = scheduled(args, Path(tmp) / "scheduled")
    report(args, found)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
