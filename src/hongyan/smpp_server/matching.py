"""From the text an SMPP client submits back to a sign, a template and its parameters.

SMPP carries finished text, while Hongyan sends approved templates with parameters. So the
text is taken apart: a leading (or else trailing) ``【...】`` is the sign; the rest must be
what one of the tenant's approved templates renders to. Each template becomes one anchored
regular expression: its literal text escaped, each ``${var}`` a named group (``digits`` and
``letters`` variables match only those, others any text), a variable used twice a
back-reference. The most specific template (most literal characters) is tried first, so
"Your code is ${code}" wins over "${text}". Parameters come out as the groups matched; the
pipeline then checks them against the template's rules as for any other send.

Matchers are compiled once per tenant and kept ``smpp_server_template_cache_secs``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.models import Template
from hongyan.templates import service as templates
from hongyan.templates.rules import parse

__all__ = ["Match", "TemplateMatcher", "matcher_for", "split_sign"]

_SIGN_HEAD = re.compile(r"^\s*【([^【】]{1,32})】")
_SIGN_TAIL = re.compile(r"【([^【】]{1,32})】\s*$")
_TYPED = {"digits": "[0-9]+", "letters": "[A-Za-z]+"}
_CACHE_KEY = "smpp_server.matchers"
_MAX_TEMPLATES = 2000  # approved templates per tenant considered


def split_sign(text: str) -> tuple[str | None, str]:
    """(sign, the rest) of a text with its 【sign】 first or last; (None, text) without one."""
    head = _SIGN_HEAD.match(text)
    if head:
        return head.group(1).strip(), text[head.end() :]
    tail = _SIGN_TAIL.search(text)
    if tail:
        return tail.group(1).strip(), text[: tail.start()]
    return None, text


@dataclass(frozen=True, slots=True)
class Match:
    template_id: str
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Compiled:
    template_id: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    literal_length: int


def _compile(template: Template) -> _Compiled:
    parsed = parse(template.content)
    rules = template.variables or {}
    pieces = [re.escape(parsed.literals[0])]
    seen: set[str] = set()
    for name, literal in zip(parsed.names, parsed.literals[1:], strict=True):
        if name in seen:
            pieces.append(f"(?P={name})")
        else:
            kind = (rules.get(name) or {}).get("type", "text")
            pieces.append(f"(?P<{name}>{_TYPED.get(kind, '.+?')})")
            seen.add(name)
        pieces.append(re.escape(literal))
    return _Compiled(
        template_id=template.id,
        pattern=re.compile("".join(pieces), re.DOTALL),
        names=tuple(parsed.variables),
        literal_length=sum(len(lit) for lit in parsed.literals),
    )


class TemplateMatcher:
    """The approved templates of one tenant, compiled, most specific first."""

    def __init__(self, items: Sequence[Template], *, free_text_allowed: bool) -> None:
        compiled = [_compile(t) for t in items]
        self._compiled = sorted(compiled, key=lambda c: (-c.literal_length, c.template_id))
        self.free_text_allowed = free_text_allowed

    def match(self, text: str) -> Match | None:
        """The first template whose rendering is exactly ``text``, with the parameters."""
        for item in self._compiled:
            found = item.pattern.fullmatch(text)
            if found is not None:
                return Match(item.template_id, {name: found.group(name) for name in item.names})
        return None


async def matcher_for(ctx: AppContext, tenant_id: str) -> TemplateMatcher:
    """The tenant's matcher, compiled at most once per cache period and process."""
    cache: dict[str, tuple[float, TemplateMatcher]] = ctx.caches.setdefault(_CACHE_KEY, {})
    hit = cache.get(tenant_id)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    async with ctx.db.session() as session:
        tenant = await accounts.get_tenant(session, tenant_id)
        rows = await templates.list_templates(
            session,
            tenant_id=tenant_id,
            status="approved",
            kind=None,
            limit=_MAX_TEMPLATES,
            before_id=None,
        )
    matcher = TemplateMatcher(rows, free_text_allowed=tenant.free_text_allowed)
    cache[tenant_id] = (now + ctx.settings.smpp_server_template_cache_secs, matcher)
    return matcher
