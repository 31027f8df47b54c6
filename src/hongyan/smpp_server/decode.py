"""What a submit_sm or data_sm carries: its body bytes, how they are coded, which part it is.

Wire facts the code depends on (SMPP 3.4 sections 5.2.12, 5.2.19, 5.3.2 and 3GPP 23.040):

- the body is the message_payload TLV when present (data_sm has nothing else), otherwise
  short_message;
- esm_class bit 0x40 (UDHI) says the body starts with a User Data Header: UDHL (one octet),
  then information elements (IEI, length, data). IEI 0x00 is concatenation with an 8-bit
  reference (ref, total, seq), IEI 0x08 the same with a 16-bit reference; others (ports...)
  are skipped;
- without a UDH, the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs say the
  same as IEI 0x08;
- data_coding 0 (SMSC default) is read as the GSM 03.38 alphabet, one unpacked septet per
  octet (how SMPP carries it); 1 is IA5 (ASCII), 3 Latin-1, 8 UCS-2 (UTF-16-BE; surrogate
  pairs joined). Others (binary 2 and 4, national alphabets) are refused.

Parts are decoded only once joined, since a part may end inside a GSM escape or between the
halves of a UTF-16 surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import gsm0338  # noqa: F401  # registers the "gsm03.38" codec

from hongyan import errors
from hongyan.smpp.constants import ESM_UDHI, DataCoding
from hongyan.smpp.pdu import DataSm, SubmitSm
from hongyan.smpp.udh import Concat, UdhCutShortError, concat_of, elements

__all__ = ["Concat", "Fragment", "decode_text", "read_fragment"]

_CODECS = {
    DataCoding.SMSC_DEFAULT: "gsm03.38",
    DataCoding.IA5: "ascii",
    DataCoding.LATIN1: "latin-1",
    DataCoding.UCS2: "utf-16-be",
}


@dataclass(frozen=True, slots=True)
class Fragment:
    """The text bytes of one PDU (UDH removed), their coding, and the part it is, if any."""

    body: bytes
    data_coding: int
    concat: Concat | None


def _invalid(reason: str) -> errors.HongyanError:
    return errors.SMPP_PARTS_INVALID(reason=reason)


def _concat_from_udh(header: bytes) -> Concat | None:
    found = None
    try:
        for iei, data in elements(header):
            found = concat_of(iei, data) or found
    except UdhCutShortError:
        raise _invalid("the user data header is cut short") from None
    return found


def _split_udh(body: bytes) -> tuple[Concat | None, bytes]:
    if not body or body[0] + 1 > len(body):
        raise _invalid("UDHI is set but no user data header fits in the message")
    size = body[0]
    return _concat_from_udh(body[1 : 1 + size]), body[1 + size :]


def _concat_from_sar(pdu: SubmitSm | DataSm) -> Concat | None:
    tlvs = pdu.tlvs
    ref, total, seq = tlvs.sar_msg_ref_num, tlvs.sar_total_segments, tlvs.sar_segment_seqnum
    if ref is None and total is None and seq is None:
        return None
    if ref is None or total is None or seq is None:
        raise _invalid("sar_msg_ref_num, sar_total_segments and sar_segment_seqnum go together")
    return Concat(ref, total, seq)


def read_fragment(pdu: SubmitSm | DataSm) -> Fragment:
    """The fragment of a submit; SMPP_PARTS_INVALID for a malformed header or part number."""
    body = pdu.tlvs.message_payload
    if body is None:
        body = pdu.short_message if isinstance(pdu, SubmitSm) else b""
    concat = None
    if pdu.esm_class & ESM_UDHI:
        concat, body = _split_udh(body)
    if concat is None:
        concat = _concat_from_sar(pdu)
    if concat is not None:
        if concat.total < 1 or not 1 <= concat.seq <= concat.total:
            raise _invalid(f"part {concat.seq} of {concat.total}")
        if concat.total == 1:
            concat = None
    return Fragment(body=bytes(body), data_coding=pdu.data_coding, concat=concat)


def decode_text(body: bytes, data_coding: int) -> str:
    """The text of joined body bytes; SMPP_DATA_CODING_UNSUPPORTED when it cannot be read."""
    codec = _CODECS.get(data_coding)  # type: ignore[call-overload]
    if codec is None:
        raise errors.SMPP_DATA_CODING_UNSUPPORTED(field="data_coding", data_coding=data_coding)
    try:
        return body.decode(codec)  # UTF-16-BE joins surrogate pairs, refuses lone halves
    except UnicodeError:
        raise errors.SMPP_DATA_CODING_UNSUPPORTED(
            field="short_message", data_coding=data_coding
        ) from None
