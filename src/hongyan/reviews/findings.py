"""Findings of the automatic review: the reason codes a tenant and the operator see.

A finding is stored as ``{"code", "severity", "detail"}``; its message is written from the code
and the detail when shown, in the reader's language. Severity ``reject`` rejects the submission
at once; ``review`` sends it to an operator even when the tenant is trusted.

Reason codes (docs/how-to/review.md lists them too):

=============================  ========  ==================================================
code                           severity  when
=============================  ========  ==================================================
CONTENT_TOO_LONG               reject    the content has more than 500 characters
VARIABLE_NAME_INVALID          reject    a ``${...}`` name is not ``[A-Za-z_][A-Za-z0-9_]{0,31}``
VARIABLE_RULE_UNUSED           reject    a variable rule names no variable of the content
VERIFICATION_VARIABLE_COUNT    reject    a verification template has not exactly one variable
VERIFICATION_VARIABLE_TYPE     reject    its variable's rule is not digits, letters or text
OPT_OUT_MISSING                reject    a marketing template has no opt-out instruction
LINK_NOT_ALLOWED               reject    a link points outside the operator's allowed domains
SENSITIVE_WORD                 reject    a word of a sensitive-word list with action block
SENSITIVE_WORD_REVIEW          review    a word of a sensitive-word list with action review
=============================  ========  ==================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hongyan.compliance.matcher import Hit
from hongyan.errors import Lang

Severity = Literal["reject", "review"]

# code -> (English, Chinese) message; placeholders come from the finding's detail.
REASONS: dict[str, tuple[str, str]] = {
    "CONTENT_TOO_LONG": (
        "The content has {length} characters; at most {limit} are allowed.",
        "内容共 {length} 个字符,最多 {limit} 个。",
    ),
    "VARIABLE_NAME_INVALID": (
        "'${{{variable}}}' is not a valid variable: names are letters, digits and '_', "
        "start with a letter or '_' and have at most 32 characters.",
        "“${{{variable}}}”不是合法的变量:变量名由字母、数字和下划线组成,"
        "以字母或下划线开头,最长 32 个字符。",
    ),
    "VARIABLE_RULE_UNUSED": (
        "A rule is given for '{variable}', which the content does not use.",
        "为变量“{variable}”设置了规则,但内容中没有使用该变量。",
    ),
    "VERIFICATION_VARIABLE_COUNT": (
        "A verification template has exactly one variable (the code); this one has {count}.",
        "验证码模板必须且只能有一个变量(验证码);当前有 {count} 个。",
    ),
    "VERIFICATION_VARIABLE_TYPE": (
        "The verification code variable '{variable}' cannot be of type {type}.",
        "验证码变量“{variable}”的类型不能是 {type}。",
    ),
    "OPT_OUT_MISSING": (
        "A marketing template must tell how to opt out, e.g. '{example}'.",
        "推广模板须包含退订方式,例如“{example}”。",
    ),
    "LINK_NOT_ALLOWED": (
        "The link '{url}' points to '{host}', which is not an allowed domain.",
        "链接“{url}”指向“{host}”,不在允许的域名范围内。",
    ),
    "SENSITIVE_WORD": (
        "The {where} contains the blocked word '{word}' ({category}).",
        "{where}含有禁止发送的敏感词“{word}”({category})。",
    ),
    "SENSITIVE_WORD_REVIEW": (
        "The {where} contains '{word}' ({category}), which an operator must look at.",
        "{where}含有需人工审核的词“{word}”({category})。",
    ),
}


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason found by the automatic review."""

    code: str
    severity: Severity
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {"code": self.code, "severity": self.severity, "detail": self.detail}


_WHERE_ZH = {"content": "内容", "name": "签名名称"}


def message(code: str, detail: dict[str, Any], lang: Lang = "en") -> str:
    """The human sentence of a finding in lang."""
    en, zh = REASONS.get(code, (code, code))
    if lang == "zh":
        where = str(detail.get("where", ""))
        return zh.format_map(_Missing({**detail, "where": _WHERE_ZH.get(where, where)}))
    return en.format_map(_Missing(detail))


def from_hits(hits: Iterable[Hit], *, where: str) -> list[Finding]:
    """Findings for sensitive-word hits in the named part ("content", "name")."""
    found: list[Finding] = []
    for hit in hits:
        blocking = hit.action == "block"
        found.append(
            Finding(
                "SENSITIVE_WORD" if blocking else "SENSITIVE_WORD_REVIEW",
                "reject" if blocking else "review",
                {
                    "where": where,
                    "word": hit.word,
                    "category": hit.category,
                    "start": hit.start,
                    "end": hit.end,
                },
            )
        )
    return found


def outcome(findings: Sequence[Finding], *, trusted: bool) -> str:
    """rejected on any reject finding; else approved for a trusted tenant with no review one."""
    if any(f.severity == "reject" for f in findings):
        return "rejected"
    if trusted and not findings:
        return "approved"
    return "pending"
