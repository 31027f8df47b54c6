"""S3 end to end over SMPP: accepted -> dispatched over one bind (window 10) -> ``sent`` recorded.

    .venv/bin/python bench/s3_smpp.py [--messages 50000] [--smsc lean|smpp34]
    .venv/bin/python bench/s3_smpp.py --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/s3_smpp.py --profile /tmp/s3.spy   # then bench/spy_top.py /tmp/s3.spy

1. The SMSC simulator (``bench/smsc_sim.py``) starts in a process of its own on 127.0.0.1 and
   accepts every submit_sm at once. ``--smsc lean`` (default): a bare asyncio SMSC that costs
   a fraction of a core; ``--smsc smpp34``: smpp34's server driven from Python, as the
   connector's tests use it (on this machine it halves the bare client's rate: it is then
   the bottleneck of the baseline, see docs/benchmarks.md).
2. Baseline, round 1: a bare smpp34 client in a process of its own binds (transceiver) and
   sends --messages submit_sm, window 10 (ten coroutines, each awaiting its submit_sm_resp),
   with the fields Hongyan's connector sends (source ``Hongyan`` ton 5, destination the same
   numbers ton 1 npi 1, registered_delivery 1, UCS-2 ``【鸿雁演示】您的订单已发货，请注意查收``);
   nothing persisted. Rate: messages / (first submit to last response).
3. Hongyan's SMPP connector alone, in this process: ``SmppConnector.send`` in batches of the
   dispatcher's size (200), one batch after the other as the dispatcher does, nothing
   persisted. Not the baseline: it splits the gap between the SMPP code and the rest.
4. Hongyan end to end: a fresh data dir (or scratch PostgreSQL database), ``hongyan run`` whose
   only enabled connector is an SMPP connector to the simulator (one bind, window 10); the
   same numbers accepted over ``POST /v1/messages/batch`` (1,000 a request, one at a time)
   while the worker dispatches. Figure: messages / (first ``created_at`` to last ``sent_at``),
   both read from the rows at the end (the server's clock, at accept and when ``sent`` is
   written).
5. Baseline, round 2 (the machine drifts): the baseline is the mean of both rounds.

The simulator's CPU per submit times each phase's rate is printed (cores): near 1.0, the
simulator would be the limit.
The first submit_sm of the baseline and of Hongyan are compared field by field.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import harness
import smpp_e2e

TARGET = 0.8
TEXT = f"【{harness.DEMO_SIGN}】{smpp_e2e.BODY}"
KIND: Literal["notification"] = "notification"


# -- the baseline: a bare smpp34 client (run as a child process) ----------------------------


async def bare_client(port: int, total: int, window: int) -> dict[str, float]:
    """Send ``total`` submit_sm over one bind with ``window`` outstanding; the figures."""
    import smpp34

    client = smpp34.Client("127.0.0.1", port, "bench", "pw", bind_type="TRX", window_size=window)
    smsc = await client.connect()
    body = TEXT.encode("utf-16-be")
    numbers = iter([harness.number(i).removeprefix("+") for i in range(total)])
    failed = 0

    async def lane() -> None:
        nonlocal failed
        for number in numbers:
            answer = await smsc.submit_sm(
                number, body, source_addr=smpp_e2e.SENDER, source_addr_ton=5,
                source_addr_npi=0, dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1,
                data_coding=8,
            )  # fmt: skip
            failed += not answer.is_success

    began = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(window)))
    secs = time.perf_counter() - began
    await smsc.unbind()
    return {"sent": total, "failed": failed, "secs": secs, "rate": total / secs}


def baseline_round(smsc: smpp_e2e.Smsc, total: int) -> dict[str, Any]:
    """One baseline round in a child process; its figures and the simulator's CPU use."""
    before = smsc.stats()
    cmd = [sys.executable, __file__, "--bare-client", str(smsc.port), "--messages", str(total)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"bare client failed ({out.returncode}): {out.stderr[-500:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    after = smsc.stats()
    figures["smsc_cores"] = smpp_e2e.busy(before, after, figures["rate"])
    figures["sample"] = after["sample"]
    if figures["failed"]:
        raise RuntimeError(f"the simulator refused {figures['failed']} baseline submits")
    return figures


# -- Hongyan's connector alone, nothing persisted -------------------------------------------


async def connector_alone(port: int, total: int, batch_size: int) -> float:
    """Messages per second through ``SmppConnector.send``, batch after batch."""
    from hongyan.connectors import registry
    from hongyan.connectors.base import InboundSms, OutboundSms, Receipt, SendResult, Sinks

    async def no_receipts(items: Sequence[Receipt]) -> None:
        return None  # the simulator sends none in this phase

    async def no_inbound(items: Sequence[InboundSms]) -> None:
        return None

    sinks = Sinks(receipts=no_receipts, inbound=no_inbound)
    connector = registry.build("smpp", "con_bench", smpp_e2e.smpp_settings(port))
    await connector.start(sinks)
    failed = 0
    began = time.perf_counter()
    try:
        for start in range(0, total, batch_size):
            batch = [
                OutboundSms(f"msg_{i}", "ten_bench", harness.number(i), TEXT, "ucs2", 1, KIND)
                for i in range(start, min(total, start + batch_size))
            ]
            results = await connector.send(batch)
            failed += sum(not isinstance(r, SendResult) for r in results)
        secs = time.perf_counter() - began
    finally:
        await connector.close()
    if failed:
        raise RuntimeError(f"{failed} messages not sent by the connector alone")
    return total / secs


# -- the scenario ---------------------------------------------------------------------------


def same_pdu(bare: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Fields in which Hongyan's first submit_sm differs from the baseline's (not the number)."""
    return [
        f"{name}: {bare.get(name)!r} vs {ours.get(name)!r}"
        for name in sorted(set(bare) | set(ours))
        if name != "destination_addr" and bare.get(name) != ours.get(name)
    ]


async def measure(args: argparse.Namespace, smsc: smpp_e2e.Smsc) -> dict[str, Any]:
    """The phases in order; every figure in one dict."""
    from hongyan.config import Settings

    first = baseline_round(smsc, args.messages)
    print(f"  baseline round 1: {first['rate']:,.0f}/s", flush=True)
    before = smsc.stats()
    alone = await connector_alone(smsc.port, args.messages, Settings().dispatch_batch_size)
    alone_cores = smpp_e2e.busy(before, smsc.stats(), alone)
    print(f"  Hongyan's connector alone: {alone:,.0f}/s", flush=True)
    before = smsc.stats()
    run = await smpp_e2e.hongyan_run(
        smsc, total=args.messages, postgres=args.postgres, until="sent",
        limit_secs=args.timeout, profile=args.profile,
    )  # fmt: skip
    after = smsc.stats()
    print(f"  Hongyan end to end: {run.end_to_end_rate:,.0f}/s", flush=True)
    second = baseline_round(smsc, args.messages)
    print(f"  baseline round 2: {second['rate']:,.0f}/s", flush=True)
    return {
        "rounds": [first, second],
        "baseline": (first["rate"] + second["rate"]) / 2,
        "alone": alone,
        "alone_cores": alone_cores,
        "run": run,
        "run_cores": smpp_e2e.busy(before, after, run.end_to_end_rate),
        "differences": same_pdu(first["sample"], after["sample"]),
    }


def report(args: argparse.Namespace, f: dict[str, Any], backend: str) -> None:
    """The table, the verdict and the summary line."""
    run: smpp_e2e.Run = f["run"]
    rate, base = run.end_to_end_rate, f["baseline"]
    ratio = rate / base
    rounds = "; ".join(f"{r['rate']:,.0f}" for r in f["rounds"])
    base_cores = max(r["smsc_cores"] for r in f["rounds"])
    print(f"\n{'':<58}{'msgs/s':>9}{'SMSC CPU':>11}")
    print(
        f"{'bare smpp34 client, window 10 (baseline; ' + rounds + ')':<58}"
        f"{base:>9,.0f}{base_cores:>10.2f}c"
    )
    print(
        f"{'Hongyan SMPP connector alone, batches of 200':<58}"
        f"{f['alone']:>9,.0f}{f['alone_cores']:>10.2f}c"
    )
    print(f"{'Hongyan end to end, first accept -> last sent (' + backend + ')':<58}"
          f"{rate:>9,.0f}{f['run_cores']:>10.2f}c")  # fmt: skip
    during, after = run.phases()
    print(f"  accepting {run.total:,} over HTTP took {run.accept_secs:.1f} s "
          f"({run.total / run.accept_secs:,.0f}/s); sent {during:,.0f}/s meanwhile and "
          f"{after:,.0f}/s after the last accept; messages by status {run.rows['by_status']}; "
          f"server peak RSS {run.peak_rss_mib:.0f} MiB")  # fmt: skip
    same = "same fields" if not f["differences"] else "DIFFERENT: " + "; ".join(f["differences"])
    print(f"  first submit_sm, Hongyan vs baseline: {same}")
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"ratio end to end / baseline {ratio:.2f}x (target >= {TARGET}x: {verdict})")
    label = f"S3 end to end over SMPP, 1 bind, window 10 ({backend}, {args.smsc} SMSC)"
    harness.summary(
        "s3",
        [
            {"label": label, "figure": f"{rate:,.0f}/s", "baseline": f"{base:,.0f}/s bare smpp34",
             "ratio": f"{ratio:.2f}x", "target": f">= {TARGET}x", "met": ratio >= TARGET},
            {"label": "S3 Hongyan SMPP connector alone (nothing persisted)",
             "figure": f"{f['alone']:,.0f}/s", "baseline": f"{base:,.0f}/s bare smpp34",
             "ratio": f"{f['alone'] / base:.2f}x", "target": "-", "met": None},
        ],
    )  # fmt: skip


def main() -> None:
    """Parse arguments and run the scenario (or, with --bare-client, the baseline's client)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--smsc", choices=("lean", "smpp34"), default="lean")
    parser.add_argument("--postgres", help="postgresql://user@host:port/db for a scratch db")
    parser.add_argument("--profile", type=Path, help="py-spy raw profile of hongyan run here")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this long")
    parser.add_argument("--bare-client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_client:
        figures = asyncio.run(bare_client(args.bare_client, args.messages, smpp_e2e.WINDOW))
        print(json.dumps(figures), flush=True)
        os._exit(0)  # smpp34's runtime may crash while the interpreter tears it down
    harness.forget_hongyan_env()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"S3 end to end over SMPP on {backend}, {args.smsc} SMSC; {harness.machine()}")
    began = time.perf_counter()
    smsc = smpp_e2e.Smsc(args.smsc)
    try:
        figures = asyncio.run(measure(args, smsc))
    finally:
        smsc.stop()
    report(args, figures, backend)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
