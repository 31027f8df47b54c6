"""Opt-out and opt-in keywords: whole message, trimmed, any case, full-width forms."""

from __future__ import annotations

import pytest

from hongyan.config import Settings
from hongyan.inbound.service import normalize_sender, opt_action

DEFAULTS = Settings(secret_key="x" * 32)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("退订", "opt_out"),
        (" 退订。", "opt_out"),
        ("TD", "opt_out"),
        ("td", "opt_out"),
        ("ＴＤ", "opt_out"),  # full-width letters
        ("t", "opt_out"),
        ("N", "opt_out"),
        ("stop", "opt_out"),
        ("Stop!", "opt_out"),
        ("\u3000STOP\u3000", "opt_out"),  # ideographic spaces
        ("unsubscribe", "opt_out"),
        ("STOPALL", "opt_out"),
        ("cancel", "opt_out"),
        ("End", "opt_out"),
        ("QUIT", "opt_out"),
        ("start", "opt_in"),
        ("UNSTOP", "opt_in"),
        ("Yes", "opt_in"),
        ("stop please", None),  # whole message only
        ("请退订", None),
        ("TDD", None),
        ("", None),
        ("好的", None),
    ],
)
def test_keywords(text: str, expected: str | None) -> None:
    assert (
        opt_action(
            text,
            opt_out=DEFAULTS.inbound_opt_out_keywords,
            opt_in=DEFAULTS.inbound_opt_in_keywords,
        )
        == expected
    )


def test_keywords_are_configurable() -> None:
    assert opt_action("arrêt", opt_out=["ARRÊT"], opt_in=[]) == "opt_out"
    assert opt_action("td", opt_out=["ARRÊT"], opt_in=[]) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+8613800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("13800138000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("10690001", "10690001"),  # not a valid number: kept as given
    ],
)
def test_sender_addresses(raw: str, expected: str) -> None:
    assert normalize_sender(raw) == expected
