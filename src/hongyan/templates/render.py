"""Rendering: a template and its parameters become the text that is sent (pure, no I/O).

Checks, in this order, each with its catalog code naming the variable (field ``params.<var>``):
PARAM_MISSING, PARAM_UNKNOWN, then per variable in order of use PARAM_CONTAINS_URL,
PARAM_VERIFICATION_CODE_INVALID and PARAM_INVALID. The sensitive-word check of the rendered
text needs the database and lives in ``templates.service.render_checked``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Span:
    """Where a variable's value landed in the rendered text (end exclusive)."""

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


def _check_links(name: str, value: str, allowed: Sequence[str]) -> None:
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
    if any(not ch.isprintable() and ch != "\n" for ch in value):
        raise errors.PARAM_INVALID(field=field, name=name, reason="it has control characters")
    type_ = rule.get("type", "text")
    if not _type_ok(type_, value):
        raise errors.PARAM_INVALID(field=field, name=name, reason=f"it is not of type {type_}")
    limit = int(rule.get("max_length") or DEFAULT_MAX_LENGTH)
    if len(value) > limit:
        raise errors.PARAM_INVALID(
            field=field, name=name, reason=f"it has {len(value)} characters, more than {limit}"
        )


def render(
    template: Template, params: Mapping[str, str], *, allowed_domains: Sequence[str] = ()
) -> Rendered:
    """Substitute ``${var}`` with params after checking every value (see the module docstring)."""
    parsed = parse(template.content)
    used = parsed.variables
    for name in used:
        if name not in params:
            raise errors.PARAM_MISSING(field=f"params.{name}", name=name)
    for name in sorted(params):
        if name not in used:
            raise errors.PARAM_UNKNOWN(field=f"params.{name}", name=name)
    rules: Mapping[str, Mapping[str, Any]] = template.variables or {}
    for name in used:
        check_value(
            name,
            params[name],
            kind=template.kind,
            rule=rules.get(name, {}),
            allowed=allowed_domains,
        )
    text, spans = _substitute(parsed, params)
    rendered = Rendered(text, template.id, template.kind, template.international, spans)
    _check_joined_links(rendered, allowed_domains)
    return rendered


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
