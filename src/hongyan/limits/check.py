"""``acquire``: the limits step of the send path, for a whole batch at once.

The messages domain calls it after every other check of a request: the tenant's request rate,
then per message its number's rolling windows and the tenant's day and month caps, in order,
so messages of one batch count against each other. The hits of accepted messages are recorded
in the same atomic step; if the request then fails for another reason, ``Acquired.release``
gives them back, so a refused message never counts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.errors import HongyanError
from hongyan.limits.backend import (
    DAY_CAP,
    MONTH_CAP,
    OK,
    RATE,
    Batch,
    Check,
    Limiter,
    Reservation,
    get_limiter,
)
from hongyan.limits.policy import Policy, policy_of, window_name

# label limit: frequency | rate | daily_cap | monthly_cap
LIMITS_HIT = Counter("hongyan_limits_hit_total", "Messages refused by a limit", ["limit"])
_LIMIT_NAMES = {RATE: "rate", DAY_CAP: "daily_cap", MONTH_CAP: "monthly_cap"}


class LimitItem(NamedTuple):
    """One message to check: its number (E.164), kind, sign name and template id.

    Immutable; a NamedTuple because the send path makes one per recipient.
    """

    msisdn: str
    kind: Literal["verification", "notification", "marketing"]
    sign: str
    template_id: str


@dataclass(eq=False)
class Acquired:
    """What ``acquire`` decided: the refused items by index; the others are counted."""

    rejected: dict[int, HongyanError]
    _limiter: Limiter | None = field(default=None, repr=False)
    _reservation: Reservation | None = field(default=None, repr=False)

    async def release(self) -> None:
        """Give back every hit recorded for the accepted items (a second call does nothing)."""
        limiter, reservation = self._limiter, self._reservation
        self._limiter = self._reservation = None
        if limiter is not None and reservation is not None and reservation.count:
            await limiter.release(reservation)


async def acquire(
    ctx: AppContext,
    session: AsyncSession,
    *,
    tenant_id: str,
    items: Sequence[LimitItem],
    now: float | None = None,
) -> Acquired:
    """Check and count a batch against the tenant's limits; ``now`` is Unix seconds (tests)."""
    if not items:
        return Acquired({})
    policy = await policy_of(session, ctx=ctx, tenant_id=tenant_id)
    local = datetime.fromtimestamp(time.time() if now is None else now, zone_of(policy.timezone))
    batch = _batch(ctx.settings.limits_key_prefix, policy, items, local, now)
    limiter = get_limiter(ctx)
    results = await limiter.hit(batch)
    rejected: dict[int, HongyanError] = {}
    for index, result in enumerate(results):
        if result != OK:
            rejected[index] = _error(policy, items[index], result, local)
            LIMITS_HIT.labels(_LIMIT_NAMES.get(result, "frequency")).inc()
    return Acquired(rejected, limiter, Reservation.of(batch, results))


def tenant_prefix(key_prefix: str, tenant_id: str) -> str:
    """Where a tenant's keys start; the braces make them one Redis Cluster hash slot."""
    return f"{key_prefix}{{{tenant_id}}}:"


def cap_keys(key_prefix: str, tenant_id: str, local: datetime) -> tuple[str, str]:
    """The day and month counters of a tenant for a local time."""
    base = tenant_prefix(key_prefix, tenant_id)
    return f"{base}d:{local:%Y%m%d}", f"{base}m:{local:%Y%m}"


def _batch(
    key_prefix: str,
    policy: Policy,
    items: Sequence[LimitItem],
    local: datetime,
    now: float | None,
) -> Batch:
    base = tenant_prefix(key_prefix, policy.tenant_id)
    day_key, month_key = cap_keys(key_prefix, policy.tenant_id, local)
    return Batch(
        token=uuid.uuid4().hex,
        checks=_checks(base, policy, items),
        rate_key=f"{base}r",
        rate_per_sec=policy.rate_per_sec,
        day_key=day_key,
        day_cap=policy.daily_cap,
        month_key=month_key,
        month_cap=policy.monthly_cap,
        now_ms=None if now is None else int(now * 1000),
    )


_EXEMPT = Check(None)


def _checks(base: str, policy: Policy, items: Sequence[LimitItem]) -> tuple[Check, ...]:
    """The check of every item, in order (one loop: this runs once per recipient)."""
    windows_of, whitelist = policy.windows, policy.whitelist
    checks: list[Check] = []
    for msisdn, kind, sign, template_id in items:
        windows = windows_of[kind]
        if not windows or msisdn in whitelist:
            checks.append(_EXEMPT)
        # Verification counts per sign (Aliyun's rule); the other kinds per template. The
        # number comes before the free-form part, and E.164 has no ':', so keys never run
        # together.
        elif kind == "verification":
            checks.append(Check(f"{base}f:v:{msisdn}:{sign}", windows))
        else:
            checks.append(Check(f"{base}f:{kind[0]}:{msisdn}:{template_id}", windows))
    return tuple(checks)


def _error(policy: Policy, item: LimitItem, result: int, local: datetime) -> HongyanError:
    if result == RATE:
        return errors.TENANT_RATE_LIMITED(rate=policy.rate_per_sec)
    if result == DAY_CAP:
        return errors.DAILY_CAP_REACHED(
            cap=policy.daily_cap, period=f"{local:%Y-%m-%d}", timezone=policy.timezone
        )
    if result == MONTH_CAP:
        return errors.MONTHLY_CAP_REACHED(
            cap=policy.monthly_cap, period=f"{local:%Y-%m}", timezone=policy.timezone
        )
    rule = policy.rules[item.kind][result - 1]
    window, window_zh = window_name(rule.window_secs)
    by_sign = item.kind == "verification"
    return errors.FREQUENCY_LIMITED(
        msisdn=item.msisdn,
        window=window,
        window_zh=window_zh,
        window_secs=rule.window_secs,
        max=rule.max,
        scope="sign" if by_sign else "template",
        scope_zh="签名" if by_sign else "模板",
    )


def zone_of(name: str) -> tzinfo:
    """The time zone of that name; UTC for a name this system does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC  # accounts validates zones; this only guards rows written by hand
