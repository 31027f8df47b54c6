"""TCP_QUICKACK on Hongyan's SMPP links (shipped in ``smpp/link.py``), measured on and off.

    .venv/bin/python bench/proto_quickack.py [--messages 20000] [--rounds 2]

Why: an SMSC that leaves Nagle's algorithm on (smpp34's server does: it never sets
TCP_NODELAY) sends the first submit_sm_resp of a burst at once and holds the others until
that segment is ACKed, and Linux delays the ACK by up to 40 ms when nothing goes the other
way. Hongyan's link writes a window of submits in one write and then waits for the answers,
so each wait for the last answers of a batch costs about 40 ms. A bare smpp34 client hides
it (it writes each submit on its own, so ACKs ride on them).

The change: after each read, ``setsockopt(IPPROTO_TCP, TCP_QUICKACK, 1)`` (Linux; it must be
set again after every read), so the kernel ACKs at once and the SMSC's Nagle lets the
held answers go. Measured with S3's "connector alone" phase (``SmppConnector.send``, batches
of 200, window 10, nothing persisted) against both simulators, without it ("default":
``FramedLink.quick_ack`` off) and with it, in alternating rounds.
"""

from __future__ import annotations

import argparse
import asyncio

import harness
import s3_smpp
import smpp_e2e

from hongyan.smpp.link import FramedLink


def install(on: bool) -> None:
    """TCP_QUICKACK after each read (on, as shipped) or never (off)."""
    FramedLink.quick_ack = on


async def compare(engine: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """Rates of the connector alone against one simulator, without and with, alternating."""
    rates: dict[str, list[float]] = {"default": [], "TCP_QUICKACK": []}
    smsc = smpp_e2e.Smsc(engine)
    try:
        for _ in range(args.rounds):
            for label in rates:
                install(label != "default")
                rate = await s3_smpp.connector_alone(smsc.port, args.messages, 200)
                rates[label].append(rate)
    finally:
        install(True)
        smsc.stop()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    harness.forget_hongyan_env()
    print(f"TCP_QUICKACK on SMPP links; {harness.machine()}")
    for engine in ("smpp34", "lean"):
        rates = asyncio.run(compare(engine, args))
        for label, got in rates.items():
            mean = sum(got) / len(got)
            rounds = "; ".join(f"{r:,.0f}" for r in got)
            print(f"  {engine:>6} SMSC, {label:<13} {mean:>8,.0f}/s  ({rounds})")


if __name__ == "__main__":
    main()
