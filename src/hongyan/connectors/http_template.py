"""The placeholder language of the generic HTTP connector, and the paths it reads answers with.

Templates are ``str.format`` syntax restricted to plain names: ``{to}`` from a fixed list,
``{{`` and ``}}`` for literal braces, and nothing else (no attribute or index access, no
conversions or format specs), so a template can never reach into Python objects. JSON bodies
are templates as data (``render_json``): only string leaves are rendered and the result is
serialized afterwards, so no value needs escaping. Paths are dotted keys and list indexes
(``data.items.0.id``), never expressions.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

_FORMATTER = string.Formatter()


def template_fields(template: str) -> set[str]:
    """The placeholders of a template; ValueError for anything beyond plain ``{name}``."""
    found: set[str] = set()
    for _, name, spec, conversion in _FORMATTER.parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {{{name}}} must be a plain name (no . [ ] ! :)")
        found.add(name)
    return found


def render(template: str, values: Mapping[str, str], encode: bool = False) -> str:
    """The template with its placeholders replaced (percent-encoded when ``encode``)."""
    out: list[str] = []
    for literal, name, _, _ in _FORMATTER.parse(template):
        out.append(literal)
        if name is not None:
            out.append(quote(values[name], safe="") if encode else values[name])
    return "".join(out)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def check(templates: Any, allowed: frozenset[str]) -> set[str]:
    """The placeholders used in every string of ``templates``; ValueError for unknown ones."""
    used: set[str] = set()
    for template in _strings(templates):
        used |= template_fields(template)
    unknown = used - allowed
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {sorted(unknown)}; known: {', '.join(sorted(allowed))}"
        )
    return used


def render_json(node: Any, values: Mapping[str, str], params: Mapping[str, str]) -> Any:
    """A JSON body template with its string leaves rendered; ``"{params}"`` is the object."""
    if isinstance(node, str):
        return dict(params) if node == "{params}" else render(node, values)
    if isinstance(node, dict):
        return {key: render_json(value, values, params) for key, value in node.items()}
    if isinstance(node, list):
        return [render_json(value, values, params) for value in node]
    return node


def get_path(data: Any, path: str | None) -> Any:
    """The value at a dotted path (``data.items.0.id``); None where there is none."""
    if not path:
        return data
    for part in path.removeprefix("$.").split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data
