"""Finding links in message text, and checking their host against an allow-list.

A link is ``http(s)://host...``, ``www.host...`` or a bare ``host.tld/...`` whose top-level
domain is a common one: bare ``Mr.Smith`` or ``node.js`` are not links, ``t.cn/abc`` and
``example.com`` are. The host may hold a template variable (``https://${host}/x``); such a host
is kept as written, and no allow-list can vouch for it. E-mail addresses are not links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# TLDs that bare hosts (no scheme, no www.) must end with to count as links; short-link and
# phishing domains in SMS use these overwhelmingly. With a scheme, any host is a link.
_TLD_WORDS = """
com cn net org io cc me co top xyz info vip shop site online club tv hk tw mo uk us de jp biz
ink wang link ltd store tech fun live pro mobi asia so to ly gl gd im app dev ai work life plus
cloud email run page
"""
COMMON_TLDS = frozenset(_TLD_WORDS.split())

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_VARIABLE = r"\$\{[^{}]*\}"
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%{}]"
_LINK = re.compile(
    r"(?<![A-Za-z0-9.@-])(?:"
    rf"(?P<scheme>https?://)(?P<host>(?:[A-Za-z0-9.-]|{_VARIABLE})+)"
    rf"|(?P<bare>(?:{_LABEL}\.)+(?P<tld>[A-Za-z]{{2,63}}))(?![A-Za-z0-9@-])"
    rf")(?::\d{{1,5}})?(?:[/?#]{_URL_CHARS}*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)'\"]"


@dataclass(frozen=True, slots=True)
class Link:
    """One link: ``text[start:end]`` is ``url``; ``host`` is lower-cased."""

    url: str
    host: str
    start: int
    end: int


def find_links(text: str) -> list[Link]:
    """Every link in text, in order."""
    links: list[Link] = []
    for match in _LINK.finditer(text):
        if match["bare"] is not None:
            host = match["bare"]
            if not host.lower().startswith("www.") and match["tld"].lower() not in COMMON_TLDS:
                continue
        else:
            host = match["host"]
        url = match.group(0).rstrip(_TRAILING)
        start = match.start()
        links.append(Link(url, host.lower().rstrip("."), start, start + len(url)))
    return links


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """True when host is one of the allowed domains or a subdomain of one."""
    if "${" in host:
        return False
    for domain in allowed:
        domain = domain.lower().strip().strip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False
