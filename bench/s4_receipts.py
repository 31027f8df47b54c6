"""S4 receipts: every message gets a receipt while sending goes on; do receipts keep up?

    .venv/bin/python bench/s4_receipts.py [--messages 50000] [--receipt-delay-ms 1000]

1. A fresh data dir gets the demo tenant (big balance, no per-number limits) and the default
   simulator connector answering at once, every number delivered, each receipt
   --receipt-delay-ms after its submit.
2. --messages messages are accepted through the messages service in this process (batches of
   1,000: validation, price, hold, rows; the real accept path) before the server starts, so
   the worker finds a backlog and sends as fast as it can: the hardest case for receipts.
3. ``hongyan run`` starts on a free port. While its dispatcher sends, the simulator hands the
   receipts back to the receipts domain (``dlr.ingest``: match the part, settle the hold,
   ``delivered``, statistics, webhooks), in the same process and on the same SQLite writer.
   ``/metrics`` is read every 0.2 s: messages ``sent`` and ``delivered`` so far.
4. Figures: the submit rate (messages sent per second while 5% to 95% of them were sent: the
   same-run baseline) and the receipt rate (deliveries per second while 5% to 95% were
   delivered), their ratio (target >= 1.0), and how far deliveries trailed submits when half
   and when 95% had been sent (the receipt delay itself, if receipts keep up; growing, if not).
   Receipts that keep up are applied exactly as fast as they come, so the ratio is 1.0 up to
   noise: the verdict "keeps up" is a ratio >= 0.98 with a trail of at most the receipt delay
   plus one second.
5. At the end, with the server still running, the database is read: receipts still held in
   ``pending_receipt``, messages not final, parts without a final receipt (all should be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import harness
import httpx

POLL_SECS = 0.2
# "Receipts keep up": the rates agree within this (they are equal when receipts keep up)...
RATE_NOISE = 0.02
# ...and deliveries trail submits by no more than the receipt delay plus this.
TRAIL_SLACK_SECS = 1.0


def crossing(samples: list[tuple[float, float]], level: float) -> float:
    """When a rising series first reached ``level`` (interpolated between two samples)."""
    previous = samples[0]
    for sample in samples:
        if sample[1] >= level:
            (t0, v0), (t1, v1) = previous, sample
            return t1 if v1 == v0 else t0 + (t1 - t0) * (level - v0) / (v1 - v0)
        previous = sample
    return float("nan")


def steady_rate(samples: list[tuple[float, float]], total: int) -> float:
    """Per second between 5% and 95% of ``total`` (leaves out start-up and the tail)."""
    return 0.9 * total / (crossing(samples, 0.95 * total) - crossing(samples, 0.05 * total))


def watch(server: harness.Server, total: int, timeout: float) -> list[tuple[float, int, int]]:
    """(seconds, sent, delivered) every POLL_SECS until all are delivered or time runs out."""
    samples: list[tuple[float, int, int]] = []
    began = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while time.perf_counter() - began < timeout:
            text = client.get("/metrics").text
            sent = int(harness.metric_sum(text, "hongyan_messages_total", status="sent"))
            done = int(harness.metric_sum(text, "hongyan_messages_total", status="delivered"))
            samples.append((time.perf_counter() - began, sent, done))
            if done >= total:
                break
            time.sleep(POLL_SECS)
    return samples


def leftovers(db_path: Path) -> dict[str, int]:
    """What the database still holds that is not final (read beside the running server)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        held = conn.execute("SELECT count(*) FROM pending_receipt").fetchone()[0]
        final = "('delivered', 'undelivered', 'expired', 'failed', 'canceled')"
        open_messages = conn.execute(
            f"SELECT count(*) FROM message WHERE status NOT IN {final}"  # noqa: S608 - constant
        ).fetchone()[0]
        parts = conn.execute(
            "SELECT count(*) FROM message_part WHERE status IN ('sent', 'accepted', 'enroute')"
        ).fetchone()[0]
        by_status = dict(conn.execute("SELECT status, count(*) FROM message GROUP BY status"))
    conn.close()
    left = {"held receipts": held, "messages not final": open_messages, "parts not final": parts}
    return left | {f"status {k}": v for k, v in by_status.items()}


def run(args: argparse.Namespace, data_dir: Path) -> dict[str, float]:
    """Prepare, accept, serve, watch; print and return the figures."""
    simulator = {"latency_ms": 0, "receipt_delay_ms": args.receipt_delay_ms, "rules": []}
    creds = asyncio.run(harness.prepare(data_dir, simulator=simulator))
    took = asyncio.run(harness.accept_backlog(data_dir, creds, count=args.messages))
    print(f"  {args.messages:,} messages accepted (queued) in {took:.1f} s, before the server")
    server = harness.Server(data_dir)
    try:
        server.start()
        samples = watch(server, args.messages, args.timeout)
        left = leftovers(data_dir / "hongyan.db")
        rss = harness.proc_status(server.pid)
    finally:
        server.stop()
    sent = [(t, float(s)) for t, s, _ in samples]
    done = [(t, float(d)) for t, _, d in samples]
    total = args.messages
    if samples[-1][2] < total:
        print(f"  only {samples[-1][2]:,} of {total:,} delivered after {args.timeout:.0f} s")
    figures = {
        "submit": steady_rate(sent, total),
        "receipts": steady_rate(done, total),
        "lag50": crossing(done, 0.5 * total) - crossing(sent, 0.5 * total),
        "lag95": crossing(done, 0.95 * total) - crossing(sent, 0.95 * total),
        "all_sent": crossing(sent, total),
        "all_done": crossing(done, total),
        "peak_rss_mib": rss["VmHWM"] / 1024,
    }
    for name, value in left.items():
        print(f"  at the end: {name:<22} {value:>8,}")
    figures["unfinished"] = left["held receipts"] + left["messages not final"]
    figures["unfinished"] += left["parts not final"]
    return figures


def report(args: argparse.Namespace, f: dict[str, float]) -> None:
    """The table, the verdicts and the summary line."""
    ratio = f["receipts"] / f["submit"]
    # Receipts that keep up arrive and are applied at the submit rate, so the two rates are
    # equal up to measuring noise (a percent or two either way), and the deliveries trail the
    # submits by the receipt delay all along; receipts that fall behind pile up in the
    # simulator, and the trail grows with every second of sending.
    allowed = args.receipt_delay_ms / 1000 + TRAIL_SLACK_SECS
    keeps_up = ratio >= 1 - RATE_NOISE and max(f["lag50"], f["lag95"]) <= allowed
    print(f"\n{'':<46}{'figure':>12}")
    print(f"{'submit rate, 5-95% of messages sent (baseline)':<46}{f['submit']:>10,.0f}/s")
    print(f"{'receipts processed, 5-95% delivered':<46}{f['receipts']:>10,.0f}/s")
    print(f"{'ratio receipts/submit (target >= 1.0)':<46}{ratio:>11.2f}x")
    print(f"{'delivered trailed sent, at 50% of messages':<46}{f['lag50']:>11.2f}s")
    print(f"{'delivered trailed sent, at 95% of messages':<46}{f['lag95']:>11.2f}s")
    print(f"{'all sent / all delivered after':<46}{f['all_sent']:>6.1f}s /{f['all_done']:>5.1f}s")
    print(f"{'left unmatched or not final at the end':<46}{f['unfinished']:>12,.0f}")
    print(
        f"(receipt delay {args.receipt_delay_ms} ms; server peak RSS {f['peak_rss_mib']:.0f} MiB)"
    )
    verdict = "met" if keeps_up else "MISSED"
    clean = "met" if not f["unfinished"] else "MISSED"
    print(f"receipts keep up with submits (ratio >= {1 - RATE_NOISE:.2f}, trail <= "
          f"{allowed:.1f} s): {verdict}; nothing left: {clean}")  # fmt: skip
    harness.summary(
        "s4",
        [
            {"label": "S4 receipts processed/s", "figure": f"{f['receipts']:,.0f}/s",
             "baseline": f"{f['submit']:,.0f}/s submitted", "ratio": f"{ratio:.2f}x",
             "target": ">= 1.0x (keeps up)", "met": keeps_up},
            {"label": "S4 receipts left unmatched / not final", "figure": f"{f['unfinished']:,.0f}",
             "baseline": "-", "ratio": "-", "target": "0", "met": f["unfinished"] == 0},
        ],
    )  # fmt: skip


def main() -> None:
    """Parse arguments and run the scenario."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--receipt-delay-ms", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this long")
    args = parser.parse_args()
    print(f"S4 receipts; {harness.machine()}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hongyan-bench-s4-") as tmp:
        figures = run(args, Path(tmp))
    report(args, figures)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
