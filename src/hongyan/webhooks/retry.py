"""The retry rules: backoff, what an answer says about the endpoint, what to record.

Pure functions of a delivery row and an attempt's result, so the rules are tested without a
database or a network.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hongyan.models import WebhookDelivery
from hongyan.models.webhooks import ERROR_MAX_LENGTH

# Backoff after the 1st, 2nd, ... failed attempt; the last one repeats until the window closes.
RETRY_DELAYS_SECS = (10, 30, 60, 300, 900, 1800, 3600)
JITTER = 0.1  # +-10%, so deliveries that failed together do not all come back together


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after the ``attempt``-th failure (1-based), with jitter."""
    base = RETRY_DELAYS_SECS[min(max(attempt, 1), len(RETRY_DELAYS_SECS)) - 1]
    return timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))


@dataclass(frozen=True, slots=True)
class Result:
    """What one POST came to (or that it was not tried)."""

    status_code: int | None = None
    error: str | None = None
    postponed: bool = False  # not tried: its target was failing in this batch

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def trips(self) -> bool:
        """Whether this says the target is down or overloaded (not just this event refused)."""
        code = self.status_code
        return (
            not self.ok
            and not self.postponed
            and (code is None or code >= 500 or code in (408, 429))
        )


POSTPONED = Result(error="postponed: the endpoint was failing", postponed=True)


def outcome(
    row: WebhookDelivery,
    result: Result,
    *,
    now: datetime,
    window: timedelta,
    url: str,
    pause: datetime | None = None,
    final: bool = False,
) -> dict[str, Any]:
    """The values to record for one delivery after this attempt (``final``: dead, untried)."""
    tried = not (final or result.postponed)
    attempts = row.attempts + (1 if tried else 0)
    first = row.first_attempt_at or (None if final else now)
    values: dict[str, Any] = {
        "b_id": row.id,
        "v_attempts": attempts,
        "v_url": url,
        "v_first": first,
        "v_last": now if tried else row.last_attempt_at,
        "v_code": result.status_code if tried else row.last_status_code,
        "v_error": result.error[:ERROR_MAX_LENGTH] if result.error else None,
        "v_delivered": None,
        "v_next": None,
    }
    if result.ok:
        values.update(v_status="delivered", v_delivered=now)
    elif final or first is None or now >= first + window:
        values.update(v_status="dead")
    else:
        due = now + retry_delay(max(attempts, 1))
        if pause is not None:
            due = max(due, pause)  # not claimable before the endpoint's pause ends anyway
        values.update(v_status="pending", v_next=min(due, first + window))
    return values
