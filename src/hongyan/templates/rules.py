"""Template syntax and the automatic review rules (pure: no database, no I/O).

Content holds variables as ``${name}``; a name is ``[A-Za-z_][A-Za-z0-9_]{0,31}``. Each
variable may have a rule: a type (digits, letters, amount, date, text) and a max_length.
The reason codes of the review are listed in ``hongyan.reviews.findings``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hongyan.compliance.matcher import Hit
from hongyan.kit.links import find_links, host_allowed
from hongyan.reviews.findings import Finding, from_hits

CONTENT_MAX = 500
NAME_MAX = 30
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
# A variable is "${" up to the next "}"; a stray "${" with no closing brace is reported too.
_PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}|\$\{")
VARIABLE_TYPES = ("digits", "letters", "amount", "date", "text")
# Aliyun's limit for notification variables; a rule's max_length overrides it.
DEFAULT_MAX_LENGTH = 35
_VERIFICATION_TYPES = frozenset({"digits", "letters", "text"})


@dataclass(frozen=True, slots=True)
class Parsed:
    """Content cut at its variables: literals[0] names[0] literals[1] ... literals[-1]."""

    literals: tuple[str, ...]
    names: tuple[str, ...]
    invalid: tuple[str, ...]  # placeholders whose name is not valid, as written

    @property
    def variables(self) -> list[str]:
        """The distinct valid variable names, in order of first use."""
        return list(dict.fromkeys(self.names))


@lru_cache(maxsize=4096)
def parse(content: str) -> Parsed:
    """Parse content once; renders of the same template reuse the result."""
    literals: list[str] = []
    names: list[str] = []
    invalid: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(content):
        name = match.group(1)
        if name is None or not VARIABLE_NAME.fullmatch(name):
            invalid.append(match.group(0) if name is None else name)
            continue  # left in the text as written; the review rejects it anyway
        literals.append(content[pos : match.start()])
        names.append(name)
        pos = match.end()
    literals.append(content[pos:])
    return Parsed(tuple(literals), tuple(names), tuple(invalid))


def _normalized(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def has_opt_out(content: str, phrases: Sequence[str]) -> bool:
    """True when content carries one of the accepted opt-out instructions."""
    text = _normalized(content)
    return any(_normalized(p) in text for p in phrases if p.strip())


def _variable_findings(
    kind: str, parsed: Parsed, rules: Mapping[str, Mapping[str, Any]]
) -> list[Finding]:
    found = [Finding("VARIABLE_NAME_INVALID", "reject", {"variable": v}) for v in parsed.invalid]
    used = parsed.variables
    found += [
        Finding("VARIABLE_RULE_UNUSED", "reject", {"variable": name})
        for name in rules
        if name not in used
    ]
    if kind == "verification":
        if len(used) != 1:
            found.append(Finding("VERIFICATION_VARIABLE_COUNT", "reject", {"count": len(used)}))
        for name in used:
            kind_of = rules.get(name, {}).get("type", "text")
            if kind_of not in _VERIFICATION_TYPES:
                found.append(
                    Finding(
                        "VERIFICATION_VARIABLE_TYPE", "reject", {"variable": name, "type": kind_of}
                    )
                )
    return found


def review(
    *,
    kind: str,
    content: str,
    rules: Mapping[str, Mapping[str, Any]],
    opt_out_phrases: Sequence[str],
    allowed_domains: Sequence[str],
    hits: Sequence[Hit],
) -> list[Finding]:
    """Every reason the automatic review finds in a template, in a stable order."""
    found: list[Finding] = []
    if len(content) > CONTENT_MAX:
        found.append(
            Finding("CONTENT_TOO_LONG", "reject", {"length": len(content), "limit": CONTENT_MAX})
        )
    found += _variable_findings(kind, parse(content), rules)
    if kind == "marketing" and not has_opt_out(content, opt_out_phrases):
        example = opt_out_phrases[0] if opt_out_phrases else "拒收请回复R"
        found.append(Finding("OPT_OUT_MISSING", "reject", {"example": example}))
    for link in find_links(content):
        if not host_allowed(link.host, allowed_domains):
            found.append(
                Finding("LINK_NOT_ALLOWED", "reject", {"url": link.url, "host": link.host})
            )
    found += from_hits(hits, where="content")
    return found
