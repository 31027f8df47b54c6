"""SMPP codec speed: encode + decode of submit_sm, ours beside smpp.pdu3 and smpp34, same run.

    .venv/bin/python bench/smpp_codec.py [--seconds S] [--rounds N]

Each codec encodes a submit_sm object it already holds and decodes the bytes back to its own
object, for two PDUs: a plain one-part GSM-7 message, and a UCS-2 part with a concatenation
UDH plus SAR and user_message_reference TLVs. Rounds alternate between the codecs and the
best round counts (machines here are shared and noisy). Figures are PDUs per second on one
core. smpp.pdu3 is pure Python (Jasmin's codec); smpp34's codec runs in Rust, so it is the
ceiling rather than a peer.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import time
from collections.abc import Callable
from typing import Any

from hongyan.kit.segments import Encoding, encode_part, udh_concat
from hongyan.smpp import EMPTY_TLVS, SubmitSm, Tlvs, decode, encode

PLAIN: dict[str, Any] = {
    "source_addr_ton": 5,
    "source_addr": "Hongyan",
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "destination_addr": "8613800138000",
    "registered_delivery": 1,
    "short_message": b"Your verification code is 123456. It expires in 5 minutes.",
}
LONG_PART = PLAIN | {
    "esm_class": 0x40,
    "data_coding": 8,
    "short_message": udh_concat(0x42, 2, 1)
    + encode_part("【鸿雁】您的验证码是 123456" * 2, Encoding.UCS2),
}
LONG_TLVS = {"sar_msg_ref_num": 0x42, "sar_total_segments": 2, "sar_segment_seqnum": 1}
LONG_TLVS_ALL = LONG_TLVS | {"user_message_reference": 7}


def ours(
    fields: dict[str, Any], tlvs: dict[str, int]
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    pdu = SubmitSm(7, tlvs=Tlvs(**tlvs) if tlvs else EMPTY_TLVS, **fields)
    wire = encode(pdu)
    return (lambda: encode(pdu)), (lambda: decode(wire))


def pdu3(
    fields: dict[str, Any], tlvs: dict[str, int]
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    from smpp.pdu import operations
    from smpp.pdu.pdu_encoding import PDUEncoder

    codec = PDUEncoder()
    # Let smpp.pdu3 build its own typed object from our bytes, so field types are its own.
    pdu = codec.decode(io.BytesIO(encode(SubmitSm(7, tlvs=Tlvs(**tlvs), **fields))))
    assert isinstance(pdu, operations.SubmitSM)
    wire = codec.encode(pdu)
    return (lambda: codec.encode(pdu)), (lambda: codec.decode(io.BytesIO(wire)))


def smpp34(
    fields: dict[str, Any], tlvs: dict[str, int]
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import smpp34 as rust

    raw = encode(SubmitSm(7, tlvs=Tlvs(**tlvs), **fields))
    pdu = rust.decode(raw)
    wire = pdu.encode()
    assert wire == raw
    return (lambda: pdu.encode()), (lambda: rust.decode(wire))


def rate(action: Callable[[], Any], seconds: float) -> float:
    """Calls per second of action over about ``seconds``."""
    count, batch = 0, 1000
    start = time.perf_counter()
    deadline = start + seconds
    while (now := time.perf_counter()) < deadline:
        for _ in range(batch):
            action()
        count += batch
    return count / (now - start)


def measure(
    name: str, fields: dict[str, Any], tlvs: dict[str, int], args: argparse.Namespace
) -> None:
    makers = {"hongyan": ours, "smpp.pdu3": pdu3, "smpp34": smpp34}
    best: dict[str, tuple[float, float, float]] = {}
    pairs = {}
    for label, maker in makers.items():
        try:
            pairs[label] = maker(fields, tlvs)
        except ImportError:
            print(f"  {label}: not installed, skipped")
    for _ in range(args.rounds):
        for label, (enc, dec) in pairs.items():
            both = rate(lambda enc=enc, dec=dec: (enc(), dec()), args.seconds)
            figures = (rate(enc, args.seconds / 2), rate(dec, args.seconds / 2), both)
            old = best.get(label, (0.0, 0.0, 0.0))
            best[label] = tuple(max(a, b) for a, b in zip(old, figures, strict=True))  # type: ignore[assignment]
    print(f"\n{name}: {len(encode(SubmitSm(tlvs=Tlvs(**tlvs), **fields)))} octets")
    print(f"  {'codec':<10} {'encode/s':>12} {'decode/s':>12} {'enc+dec/s':>12} {'vs hongyan':>11}")
    base = best["hongyan"][2]
    for label, (enc_rate, dec_rate, both) in best.items():
        figures = f"{enc_rate:>12,.0f} {dec_rate:>12,.0f} {both:>12,.0f}"
        print(f"  {label:<10} {figures} {both / base:>10.2f}x")


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        return next(
            (ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), "?"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; best counts")
    args = parser.parse_args()
    cpu = _cpu_model()
    print(f"python {platform.python_version()}, nproc {os.cpu_count()}, {cpu}")
    measure("submit_sm, plain GSM-7", PLAIN, {}, args)
    measure("submit_sm, UCS-2 part with UDH + SAR TLVs", LONG_PART, LONG_TLVS_ALL, args)


if __name__ == "__main__":
    main()
