"""Parse, validate and describe one phone number, with a cache per unique input.

``phonenumbers`` (libphonenumber's metadata) does the numbering-plan work; this module adds
the input forms people paste (full-width digits, ``86`` with no ``+``), the decision of which
number types can receive SMS, and a bounded cache so repeated numbers cost a dict lookup.

Which number types are sendable, and why:

- ``mobile``: yes.
- ``fixed_line_or_mobile``: yes. The NANP (US, CA, ...) and a few other plans do not tell
  mobiles from landlines by number, so refusing them would refuse every US mobile; an SMS to a
  landline there is dropped or read out by the carrier.
- ``voip``: yes. Most VoIP numbers (Google Voice, Twilio, many CN 170/171 ranges are mobile
  anyway) take SMS; OTP fraud rules may refuse them later, but that is a policy, not a fact.
- ``pager``: no. Paging networks rarely interwork with SMS today.
- ``personal_number``, ``uan``: no. Forwarding/routing numbers that usually reject SMS.
- ``fixed_line``, ``toll_free``, ``premium_rate``, ``shared_cost``, ``voicemail``: no.

A number that is valid but not sendable gets the reason ``NUMBER_NOT_MOBILE``.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Final, NamedTuple

import phonenumbers
from phonenumbers import PhoneNumberType, carrier

from hongyan import errors
from hongyan.errors import Lang

UNPARSEABLE: Final = errors.NUMBER_UNPARSEABLE.code
INVALID: Final = errors.NUMBER_INVALID.code
NOT_MOBILE: Final = errors.NUMBER_NOT_MOBILE.code

# Longer than any number plus separators and an extension; refusing early keeps megabyte
# strings out of the cache and out of phonenumbers' regexes.
MAX_INPUT_CHARS: Final = 64

TYPE_NAMES: Final[dict[int, str]] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}
SENDABLE_TYPES: Final = frozenset({"mobile", "fixed_line_or_mobile", "voip"})

# phonenumbers only has carrier data for these types (it returns "" for the others).
_CARRIER_TYPES: Final = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER}
)
_E164: Final = phonenumbers.PhoneNumberFormat.E164


class NumberInfo(NamedTuple):
    """What one input string turned out to be (immutable).

    A NamedTuple rather than a frozen dataclass: one is built per number parsed, and a frozen
    dataclass sets each of its nine fields through ``object.__setattr__`` (3x the cost).
    """

    input: str
    e164: str | None
    valid: bool
    reason: str | None
    number_type: str
    region: str | None
    country_code: int | None
    carrier: str | None
    sendable: bool


def check_region(region: str) -> str:
    """Return the region code in upper case, or raise NUMBER_REGION_UNKNOWN."""
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise errors.NUMBER_REGION_UNKNOWN(field="region", region=region)
    return code


def _normalize(raw: str, region: str) -> str:
    # NFKC turns full-width digits, '＋' and '－' into ASCII; ASCII input skips the cost.
    text = raw.strip() if raw.isascii() else unicodedata.normalize("NFKC", raw).strip()
    # "8613800138000": a CN mobile with its country code but no '+' or '00'. Saying so
    # explicitly keeps it from depending on phonenumbers' guess about national prefixes.
    if region == "CN" and len(text) == 13 and text.startswith("861") and text.isdigit():
        return "+" + text
    return text


# Separators people put in a mainland mobile ("139 1234 5678", "+86 139-1234-5678").
_SEPARATORS: Final = str.maketrans("", "", " -")


def _bare_cn_mobile(text: str) -> str | None:
    """The 11 digits of a mainland mobile written bare, with spaces or dashes, or after +86."""
    # phonenumbers.parse drops these separators and reads "+86" as the country code, so
    # "+86 139 1234 5678" and "139-1234-5678" are the number 13912345678 as much as the
    # bare form; the caller still keeps the fast answer only if the metadata says mobile.
    if len(text) != 11:
        text = text.translate(_SEPARATORS)
        if len(text) == 14 and text.startswith("+86"):
            text = text[3:]
    return text if len(text) == 11 else None


def _fast_cn_mobile(text: str) -> phonenumbers.PhoneNumber | None:
    """The PhoneNumber of a bare 11-digit CN mobile, or None to take the full parse."""
    # Most CN lists are bare 11-digit mobiles, and phonenumbers.parse spends ~13 us on
    # per-character Unicode digit checks and regexes to learn nothing new about them. A
    # 13x-19x number has no national prefix or carrier code to strip, so building it
    # directly gives the same number; the caller keeps it only if the metadata says mobile,
    # and the tests compare it with phonenumbers.parse over random numbers.
    if len(text) != 11 or text[0] != "1" or text[1] not in "3456789":
        return None
    if not (text.isascii() and text.isdigit()):  # int() would also take Arabic-Indic digits
        return None
    return phonenumbers.PhoneNumber(country_code=86, national_number=int(text))


def _cn_mobile(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    """The number when ``text`` is a mainland mobile the fast path can read, else None."""
    if region != "CN" or (digits := _bare_cn_mobile(text)) is None:
        return None
    fast = _fast_cn_mobile(digits)
    if fast is None or phonenumbers.number_type(fast) != PhoneNumberType.MOBILE:
        return None
    return fast


def _to_number(text: str, region: str) -> tuple[phonenumbers.PhoneNumber, int] | str:
    """The number and its PhoneNumberType, or the reason code it was refused."""
    if (fast := _cn_mobile(text, region)) is not None:
        return fast, PhoneNumberType.MOBILE
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        # The default region is known, so this means "+999 ..." or "00999 ...": a country
        # code that does not exist, which is a wrong number rather than no number at all.
        bad_code = exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE
        return INVALID if bad_code else UNPARSEABLE
    # number_type() runs the same pattern match as is_valid_number() and is UNKNOWN exactly
    # when that is False; asking it alone halves the regex work of a unique number.
    kind = phonenumbers.number_type(num)
    return INVALID if kind == PhoneNumberType.UNKNOWN else (num, kind)


def _refused(raw: str, reason: str) -> NumberInfo:
    return NumberInfo(raw, None, False, reason, "unknown", None, None, None, False)


def parse_number(raw: str, *, region: str, lang: Lang = "en") -> NumberInfo:
    """Parse and describe one number, read in ``region`` when it has no country code."""
    region = check_region(region)
    text = _normalize(raw, region)
    if not text or len(text) > MAX_INPUT_CHARS:
        return _refused(raw, UNPARSEABLE)
    parsed = _to_number(text, region)
    if isinstance(parsed, str):
        return _refused(raw, parsed)
    num, kind = parsed
    type_name = TYPE_NAMES.get(kind, "unknown")
    sendable = type_name in SENDABLE_TYPES
    name = carrier.name_for_valid_number(num, lang) if kind in _CARRIER_TYPES else ""
    return NumberInfo(
        input=raw,
        e164=phonenumbers.format_number(num, _E164),
        valid=True,
        reason=None if sendable else NOT_MOBILE,
        number_type=type_name,
        region=phonenumbers.region_code_for_number(num),
        country_code=num.country_code,
        carrier=name or None,
        sendable=sendable,
    )


def _parse_positional(raw: str, region: str, lang: Lang) -> NumberInfo:
    return parse_number(raw, region=region, lang=lang)


class NumberParser:
    """``parse_number`` behind a bounded LRU cache keyed by (input, region, lang)."""

    def __init__(self, cache_size: int = 65_536) -> None:
        # 65k entries of ~400 bytes each is ~25 MiB at most; lists with more unique numbers
        # than that still work, they just parse the evicted ones again.
        self._cached = lru_cache(maxsize=cache_size)(_parse_positional)

    def parse(self, raw: str, *, region: str, lang: Lang = "en") -> NumberInfo:
        """Parse one number; a repeated (input, region, lang) is answered from the cache."""
        return self._cached(raw, region, lang)

    def cache_hits(self) -> tuple[int, int]:
        """Return (hits, misses) of the cache since it was made."""
        info = self._cached.cache_info()
        return info.hits, info.misses
