"""The webhook signature: what receivers verify, and the backoff and outcome rules."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from hongyan.models import WebhookDelivery
from hongyan.webhooks import retry
from hongyan.webhooks.verify import compute_signature, signature_header, verify_signature

SECRET = "whsec_test_secret"
BODY = '{"id":"evt_1","type":"message.delivered","data":{"签名":"鸿雁"}}'.encode()
NOW = 1_764_067_200


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, NOW, BODY) == expected
    assert signature_header([SECRET], BODY, timestamp=NOW) == f"t={NOW},v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    header = signature_header([SECRET], BODY, timestamp=NOW)
    assert verify_signature(SECRET, header, BODY, now=NOW)
    assert verify_signature(SECRET, header, BODY, now=NOW + 299)
    assert verify_signature(SECRET, header.replace(",", ", "), BODY, now=NOW)  # spaces tolerated


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("whsec_other", BODY, NOW),  # another secret
        (SECRET, BODY + b" ", NOW),  # a changed body
        (SECRET, BODY, NOW + 301),  # stale: a replayed capture
        (SECRET, BODY, NOW - 301),  # from the future
    ],
)
def test_wrong_secret_body_or_time_is_refused(secret: str, body: bytes, now: int) -> None:
    header = signature_header([SECRET], BODY, timestamp=NOW)
    assert not verify_signature(secret, header, body, now=now)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", f"t={NOW}", "v1=abc", f"t=soon,v1={'0' * 64}", f"t={NOW},v0={'0' * 64}"],
)
def test_malformed_headers_are_refused(header: str) -> None:
    assert not verify_signature(SECRET, header, BODY, now=NOW)


def test_tolerance_is_configurable() -> None:
    header = signature_header([SECRET], BODY, timestamp=NOW)
    assert not verify_signature(SECRET, header, BODY, now=NOW + 61, tolerance_secs=60)
    assert verify_signature(SECRET, header, BODY, now=NOW + 3600, tolerance_secs=3600)


def test_during_a_rotation_either_secret_verifies() -> None:
    header = signature_header(["whsec_new", "whsec_old"], BODY, timestamp=NOW)
    assert header.count("v1=") == 2
    assert verify_signature("whsec_new", header, BODY, now=NOW)
    assert verify_signature("whsec_old", header, BODY, now=NOW)
    assert not verify_signature("whsec_neither", header, BODY, now=NOW)


def test_verify_uses_the_clock_when_now_is_not_given() -> None:
    import time

    header = signature_header([SECRET], BODY, timestamp=int(time.time()))
    assert verify_signature(SECRET, header, BODY)
    assert not verify_signature(SECRET, signature_header([SECRET], BODY, timestamp=NOW), BODY)


# --- backoff and outcomes (the pure rules of hongyan.webhooks.retry) -------------------------


@pytest.mark.parametrize(("attempt", "base"), [(1, 10), (2, 30), (3, 60), (6, 1800), (7, 3600)])
def test_retry_delays_grow_with_jitter(attempt: int, base: int) -> None:
    for _ in range(50):
        delay = retry.retry_delay(attempt).total_seconds()
        assert base * 0.9 <= delay <= base * 1.1
    assert retry.retry_delay(40).total_seconds() <= 3600 * 1.1  # capped


T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def _row(**fields: object) -> WebhookDelivery:
    values: dict[str, object] = {"id": "whd_x", "attempts": 0, "url": "https://example.com/"}
    values.update(fields)
    return WebhookDelivery(**values)


def test_success_is_delivered() -> None:
    values = retry.outcome(_row(), retry.Result(200), now=T0, window=WINDOW, url="u")
    assert values["v_status"] == "delivered" and values["v_delivered"] == T0
    assert values["v_attempts"] == 1 and values["v_next"] is None and values["v_error"] is None


def test_failure_is_retried_within_the_window_then_dead() -> None:
    failed = retry.Result(503, "HTTP 503")
    first = retry.outcome(_row(), failed, now=T0, window=WINDOW, url="u")
    assert first["v_status"] == "pending" and first["v_first"] == T0
    assert T0 + timedelta(seconds=9) <= first["v_next"] <= T0 + timedelta(seconds=11)
    # Near the end of the window the last retry is at the window's end, not after it.
    late = T0 + timedelta(hours=23, minutes=59)
    row = _row(attempts=20, first_attempt_at=T0)
    near = retry.outcome(row, failed, now=late, window=WINDOW, url="u")
    assert near["v_status"] == "pending" and near["v_next"] == T0 + WINDOW
    over = retry.outcome(row, failed, now=T0 + WINDOW, window=WINDOW, url="u")
    assert over["v_status"] == "dead" and over["v_next"] is None and over["v_attempts"] == 21


def test_postponed_is_not_an_attempt_but_starts_the_clock() -> None:
    row = _row(attempts=0)
    pause = T0 + timedelta(minutes=5)
    values = retry.outcome(row, retry.POSTPONED, now=T0, window=WINDOW, url="u", pause=pause)
    assert values["v_attempts"] == 0 and values["v_first"] == T0 and values["v_last"] is None
    assert values["v_status"] == "pending" and values["v_next"] == pause


@pytest.mark.parametrize(
    ("result", "trips"),
    [
        (retry.Result(200), False),
        (retry.Result(400, "HTTP 400"), False),
        (retry.Result(410, "HTTP 410"), False),
        (retry.Result(429, "HTTP 429"), True),
        (retry.Result(500, "HTTP 500"), True),
        (retry.Result(None, "timeout"), True),
        (retry.POSTPONED, False),
    ],
)
def test_which_answers_say_the_endpoint_is_failing(result: retry.Result, trips: bool) -> None:
    assert result.trips is trips
