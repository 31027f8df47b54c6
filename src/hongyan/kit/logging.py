"""Structured logging: JSON in production, readable in a terminal; secrets never written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Any event key naming one of these is replaced before it is written, whatever the caller did.
_SECRET_KEYS = re.compile(r"secret|password|passwd|token|authorization|api_key|credential", re.I)
_PHONE = re.compile(r"(?<!\d)(\+?\d{3,7})\d{4}(\d{4})(?!\d)")


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if _SECRET_KEYS.search(key):
            event[key] = "[redacted]"
    return event


def mask_number(text: str) -> str:
    """138****8000: keep the first three and last four digits of phone-like runs."""
    return _PHONE.sub(r"\1****\2", text)


def _mask_numbers(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str) and key != "event":
            event[key] = mask_number(value)
    return event


class _StderrLogger:
    """Writes to whatever sys.stderr is at the time of the call (it may be replaced later)."""

    def __init__(self, *_: Any) -> None:
        pass

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def configure(*, fmt: str = "auto", level: str = "INFO", mask_numbers: bool = True) -> None:
    """Configure structlog and the standard library's logging once per process."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if mask_numbers:
        processors.append(_mask_numbers)
    processors.append(structlog.processors.format_exc_info)
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_StderrLogger,
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    # uvicorn's own access log would duplicate ours (and has no request id): keep it quiet.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Alembic narrates every migration step at INFO; the CLI says what matters itself.
    logging.getLogger("alembic").setLevel(logging.WARNING)
