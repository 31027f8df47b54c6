"""S4 over SMPP: the SMSC returns a receipt for every submit while sending goes on.

    .venv/bin/python bench/s4_smpp_receipts.py [--messages 50000] [--receipt-delay-ms 1000]
    .venv/bin/python bench/s4_smpp_receipts.py --postgres postgresql://postgres@127.0.0.1:5432/test

S3's run (``bench/s3_smpp.py``: ``hongyan run`` sending over one SMPP bind, window 10, to
``bench/smsc_sim.py``, messages accepted over the batch API while the worker dispatches),
with the simulator sending a ``DELIVRD`` receipt (deliver_sm, esm_class 0x04, the id in the
text and in receipted_message_id) --receipt-delay-ms after each submit, on the same bind,
without a window of its own. The connector hands receipts to the receipts domain in batches
and answers each deliver_sm once its batch is stored; the domain matches each to its part
(or holds it in ``pending_receipt`` if it came before the submit was recorded) and makes the
message ``delivered``: part, hold settled, status history, statistics, webhooks.

Figures (``/metrics`` read every 0.2 s): the submit rate (messages ``sent`` per second while
5% to 95% were sent; the same-run baseline) and the receipt rate (``delivered`` per second
while 5% to 95% were delivered), their ratio, and how far deliveries trailed submits at 50%
and 95%. Receipts keep up when the ratio is >= 0.98 (they are then applied exactly as fast as
they come, so the rates agree to within noise) and the trail stays within the delay plus one
second. At the end: receipts held unmatched, parts and messages not final (all must be 0),
and the simulator's count of deliver_sm answered with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import harness
import smpp_e2e
from s4_receipts import RATE_NOISE, TRAIL_SLACK_SECS, crossing, steady_rate


async def measure(args: argparse.Namespace, smsc: smpp_e2e.Smsc) -> dict[str, Any]:
    """One Hongyan run with receipts; the figures."""
    before = smsc.stats()
    run = await smpp_e2e.hongyan_run(
        smsc, total=args.messages, postgres=args.postgres, until="delivered",
        limit_secs=args.timeout,
    )  # fmt: skip
    after = smsc.stats()
    sent = [(t, float(s)) for t, s, _ in run.samples]
    done = [(t, float(d)) for t, _, d in run.samples]
    total = args.messages
    rows = run.rows
    by_status = rows["by_status"]
    return {
        "run": run,
        "submit": steady_rate(sent, total),
        "receipts": steady_rate(done, total),
        "lag50": crossing(done, 0.5 * total) - crossing(sent, 0.5 * total),
        "lag95": crossing(done, 0.95 * total) - crossing(sent, 0.95 * total),
        "all_sent": crossing(sent, total),
        "all_done": crossing(done, total),
        "unmatched": rows["held_receipts"],
        "not_final": rows["open_parts"] + sum(n for s, n in by_status.items() if s != "delivered"),
        "smsc": {k: after[k] - before[k] for k in ("submits", "receipts_sent", "receipts_acked")}
        | {k: after[k] - before[k] for k in ("receipts_nacked", "receipts_dropped")},
    }


def report(args: argparse.Namespace, f: dict[str, Any], backend: str) -> None:
    """The table, the verdicts and the summary line."""
    run: smpp_e2e.Run = f["run"]
    ratio = f["receipts"] / f["submit"]
    allowed = args.receipt_delay_ms / 1000 + TRAIL_SLACK_SECS
    keeps_up = ratio >= 1 - RATE_NOISE and max(f["lag50"], f["lag95"]) <= allowed
    print(f"\n{'':<50}{'figure':>12}")
    print(f"{'submit rate, 5-95% of messages sent (baseline)':<50}{f['submit']:>10,.0f}/s")
    print(f"{'receipts processed, 5-95% delivered':<50}{f['receipts']:>10,.0f}/s")
    print(f"{'ratio receipts/submit (target >= 1.0)':<50}{ratio:>11.2f}x")
    print(f"{'delivered trailed sent, at 50% / 95%':<50}{f['lag50']:>5.2f}s /{f['lag95']:>5.2f}s")
    print(f"{'all sent / all delivered after':<50}{f['all_sent']:>5.1f}s /{f['all_done']:>5.1f}s")
    print(f"{'S3 end to end, first accept -> last sent':<50}{run.end_to_end_rate:>10,.0f}/s")
    print(f"{'receipts held unmatched at the end':<50}{f['unmatched']:>12,}")
    print(f"{'messages or parts not final at the end':<50}{f['not_final']:>12,}")
    print(f"  simulator: {f['smsc']}; messages by status {run.rows['by_status']}")
    rss = run.peak_rss_mib
    print(f"  (receipt delay {args.receipt_delay_ms} ms; server peak RSS {rss:.0f} MiB)")
    clean = f["unmatched"] == 0 and f["not_final"] == 0 and f["smsc"]["receipts_nacked"] == 0
    print(
        f"receipts keep up (ratio >= {1 - RATE_NOISE:.2f}, trail <= {allowed:.1f} s): "
        f"{'met' if keeps_up else 'MISSED'}; nothing unmatched: {'met' if clean else 'MISSED'}"
    )
    harness.summary(
        "s4smpp",
        [
            {"label": f"S4 over SMPP, receipts processed/s ({backend})",
             "figure": f"{f['receipts']:,.0f}/s", "baseline": f"{f['submit']:,.0f}/s submitted",
             "ratio": f"{ratio:.2f}x", "target": ">= 1.0x (keeps up)", "met": keeps_up},
            {"label": "S4 over SMPP, receipts unmatched / not final",
             "figure": f"{f['unmatched']:,} / {f['not_final']:,}", "baseline": "-",
             "ratio": "-", "target": "0 / 0", "met": clean},
        ],
    )  # fmt: skip


def main() -> None:
    """Parse arguments and run the scenario."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--receipt-delay-ms", type=int, default=1000)
    parser.add_argument("--smsc", choices=("lean", "smpp34"), default="lean")
    parser.add_argument("--postgres", help="postgresql://user@host:port/db for a scratch db")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this long")
    args = parser.parse_args()
    harness.forget_hongyan_env()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"S4 over SMPP on {backend}, {args.smsc} SMSC; {harness.machine()}")
    began = time.perf_counter()
    smsc = smpp_e2e.Smsc(args.smsc, receipt_delay_ms=args.receipt_delay_ms)
    try:
        figures = asyncio.run(measure(args, smsc))
    finally:
        smsc.stop()
    report(args, figures, backend)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
