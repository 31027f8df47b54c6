"""Rendering: a template and its parameters become the text that is sent (pure, no I/O).

Checks, in this order, each with its catalog code naming the variable (field ``params.<var>``):
PARAM_MISSING, PARAM_UNKNOWN, then per variable in order of use PARAM_CONTAINS_URL,
PARAM_VERIFICATION_CODE_INVALID and PARAM_INVALID. The sensitive-word check of the rendered
text needs the database and lives in ``templates.service.render_checked``.

Cost: the send path calls ``render`` once per recipient to check the params, then
``render_checked`` renders the same params again before scanning; a small memo of recent
successful renders answers the second call (and popular params sets) with one dict lookup.
Refusals are never memoized: they are computed, and raised, every time.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from hongyan import errors
from hongyan.compliance.matcher import Hit
from hongyan.kit.links import find_links, host_allowed
from hongyan.models import Template
from hongyan.templates.rules import DEFAULT_MAX_LENGTH, Parsed, parse

_VERIFICATION_CODE = re.compile(r"[A-Za-z0-9]{4,6}")
_DIGITS = re.compile(r"[0-9]+")
_LETTERS = re.compile(r"[A-Za-z]+")
# 1234, 1,234.50, -12.5, ¥12.00, $3: an optional sign and currency symbol, two decimals at most.
_AMOUNT = re.compile(r"-?[¥￥$€£]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?")
_DATE = re.compile(
    r"(?P<y>\d{4})(?:(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)|年(?P<m2>\d{1,2})月)(?P<d>\d{1,2})日?"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
)


class Span(NamedTuple):
    """Where a variable's value landed in the rendered text (end exclusive); immutable.

    A NamedTuple because every render makes one per variable (a frozen dataclass costs 2x).
    """

    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered template; review_hits are words an operator may want to see (render_checked)."""

    text: str
    template_id: str
    kind: str
    international: bool
    spans: tuple[Span, ...]
    review_hits: tuple[Hit, ...] = ()

    def variable_at(self, start: int, end: int) -> str | None:
        """The variable whose value overlaps text[start:end], if any."""
        for span in self.spans:
            if span.start < end and start < span.end:
                return span.name
        return None


def _valid_date(value: str) -> bool:
    match = _DATE.fullmatch(value)
    if match is None:
        return False
    try:
        date(int(match["y"]), int(match["m"] or match["m2"]), int(match["d"]))
        if match["H"] is not None:
            datetime(2000, 1, 1, int(match["H"]), int(match["M"]), int(match["S"] or 0))
    except ValueError:
        return False
    return True


def _type_ok(kind: str, value: str) -> bool:
    if kind == "digits":
        return _DIGITS.fullmatch(value) is not None
    if kind == "letters":
        return _LETTERS.fullmatch(value) is not None
    if kind == "amount":
        return _AMOUNT.fullmatch(value) is not None
    if kind == "date":
        return _valid_date(value)
    return True


def _may_hold_link(text: str) -> bool:
    """False when ``find_links`` cannot find anything: every link has a "." or "://"."""
    # A scheme link needs "://"; a bare or www. host needs a dot before its TLD. Most
    # values (names, amounts, codes) have neither, and the regex is then skipped.
    return "." in text or "://" in text


def _check_links(name: str, value: str, allowed: Sequence[str]) -> None:
    if not _may_hold_link(value):
        return
    for link in find_links(value):
        if not host_allowed(link.host, allowed):
            raise errors.PARAM_CONTAINS_URL(field=f"params.{name}", name=name, host=link.host)


def check_value(
    name: str, value: str, *, kind: str, rule: Mapping[str, Any], allowed: Sequence[str] = ()
) -> None:
    """Raise the catalog error for a value that breaks its variable's rules."""
    field = f"params.{name}"
    _check_links(name, value, allowed)
    if kind == "verification" and not _VERIFICATION_CODE.fullmatch(value):
        raise errors.PARAM_VERIFICATION_CODE_INVALID(field=field, name=name)
    if not value.strip():
        raise errors.PARAM_INVALID(field=field, name=name, reason="it is empty")
    # isprintable() of the whole value is one C call; only a value failing it is looked at
    # character by character (a newline is allowed).
    if not value.isprintable() and any(not ch.isprintable() and ch != "\n" for ch in value):
        raise errors.PARAM_INVALID(field=field, name=name, reason="it has control characters")
    type_ = rule.get("type", "text")
    if not _type_ok(type_, value):
        raise errors.PARAM_INVALID(field=field, name=name, reason=f"it is not of type {type_}")
    limit = int(rule.get("max_length") or DEFAULT_MAX_LENGTH)
    if len(value) > limit:
        raise errors.PARAM_INVALID(
            field=field, name=name, reason=f"it has {len(value)} characters, more than {limit}"
        )


@dataclass(frozen=True, slots=True)
class _Compiled:
    """What rendering needs of a content, computed once per distinct content."""

    parsed: Parsed
    used: tuple[str, ...]  # distinct variable names in order of first use


@lru_cache(maxsize=4096)
def _compiled(content: str) -> _Compiled:
    parsed = parse(content)
    return _Compiled(parsed, tuple(parsed.variables))


# Recent successful renders: (template's id, content, kind, international, variable rules,
# allowed domains, params) -> Rendered. Started over when full, like a generation cache.
_MEMO_ENTRIES = 4096
_memo: dict[Hashable, Rendered] = {}


class _Source(NamedTuple):
    """What a render reads of a template (read once: ORM attributes cost a call each)."""

    id: str
    content: str
    kind: str
    international: bool
    variables: Mapping[str, Mapping[str, Any]]


def _freeze(value: Any) -> Hashable:
    """A hashable copy of JSON-like data (dicts, lists, scalars) for a memo key."""
    if isinstance(value, Mapping):  # equal dicts give equal sets, in any order
        return frozenset((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value  # type: ignore[no-any-return]


def render(
    template: Template, params: Mapping[str, str], *, allowed_domains: Sequence[str] = ()
) -> Rendered:
    """Substitute ``${var}`` with params after checking every value (see the module docstring)."""
    source = _Source(
        template.id,
        template.content,
        template.kind,
        template.international,
        template.variables or {},
    )
    # Every input of a render is in the key, so a template changed in place (same id, other
    # content or rules) is rendered afresh rather than served its old text.
    key = (
        source.id,
        source.content,
        source.kind,
        source.international,
        _freeze(source.variables) if source.variables else None,
        tuple(allowed_domains),
        tuple(params.items()),
    )
    try:
        done = _memo.get(key)
    except TypeError:  # a value that is not a string (a caller bypassing the schemas)
        return _render(source, params, allowed_domains)
    if done is None:
        done = _render(source, params, allowed_domains)
        if len(_memo) >= _MEMO_ENTRIES:
            _memo.clear()
        _memo[key] = done
    return done


def _render(source: _Source, params: Mapping[str, str], allowed: Sequence[str]) -> Rendered:
    compiled = _compiled(source.content)
    used = compiled.used
    # Every variable given and nothing else (the usual case) needs neither loop below.
    if len(params) != len(used) or any(name not in params for name in used):
        _check_names(used, params)
    rules = source.variables
    for name in used:
        check_value(
            name,
            params[name],
            kind=source.kind,
            rule=rules.get(name, {}),
            allowed=allowed,
        )
    text, spans = _substitute(compiled.parsed, params)
    rendered = Rendered(text, source.id, source.kind, source.international, spans)
    if _may_hold_link(text):
        _check_joined_links(rendered, allowed)
    return rendered


def _check_names(used: Sequence[str], params: Mapping[str, str]) -> None:
    """PARAM_MISSING for the first variable not given, else PARAM_UNKNOWN for an extra one."""
    for name in used:
        if name not in params:
            raise errors.PARAM_MISSING(field=f"params.{name}", name=name)
    for name in sorted(params):
        if name not in used:
            raise errors.PARAM_UNKNOWN(field=f"params.{name}", name=name)


def _substitute(parsed: Parsed, params: Mapping[str, str]) -> tuple[str, tuple[Span, ...]]:
    pieces: list[str] = [parsed.literals[0]]
    spans: list[Span] = []
    length = len(parsed.literals[0])
    for name, literal in zip(parsed.names, parsed.literals[1:], strict=True):
        value = params[name]
        spans.append(Span(name, length, length + len(value)))
        pieces += (value, literal)
        length += len(value) + len(literal)
    return "".join(pieces), tuple(spans)


def _check_joined_links(rendered: Rendered, allowed: Sequence[str]) -> None:
    """A value can complete a link of the text around it (``https://${host}``): check those."""
    for link in find_links(rendered.text):
        name = rendered.variable_at(link.start, link.end)
        if name is not None and not host_allowed(link.host, allowed):
            raise errors.PARAM_CONTAINS_URL(field=f"params.{name}", name=name, host=link.host)
