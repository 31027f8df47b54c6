"""The process-wide number parser (its cache is shared by every request)."""

from __future__ import annotations

from typing import Any

from hongyan.numbers.parse import NumberParser


def parser_of(ctx: Any) -> NumberParser:
    """The parser kept on the app context (an AppContext), made on first use."""
    parser = ctx.caches.get("number_parser")
    if parser is None:
        parser = ctx.caches["number_parser"] = NumberParser()
    assert isinstance(parser, NumberParser)
    return parser
