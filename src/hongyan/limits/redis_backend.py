"""The Redis limiter: one Lua script checks and records a whole batch, so any number of API and
worker processes share the limits exactly.

Redis runs a script alone, so the script's reads (how many hits in each window, how much of
the day's cap is used) and its writes (the new hits) are one step no other client can enter.
One ``EVALSHA`` per batch: a batch of 1,000 recipients costs one round trip.

Keys (all of one tenant share the ``{tenant_id}`` hash tag, so they live in one Redis Cluster
slot and one script may touch them all):

- ``<prefix>{ten_..}:r``: sorted set, the tenant's requests of the last second (score = ms);
- ``<prefix>{ten_..}:d:YYYYMMDD`` / ``:m:YYYYMM``: counters of accepted messages per day/month;
- ``<prefix>{ten_..}:f:<v|n|m>:<msisdn>:<sign or template>``: sorted set, the hits of one number
  for one sign (verification) or template (notification, marketing), one member per message.

Every write sets a TTL as long as the longest window, so idle keys disappear by themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from hongyan import errors
from hongyan.limits.backend import (
    DAY_TTL_MS,
    MONTH_TTL_MS,
    RATE_TTL_MS,
    RATE_WINDOW_MS,
    Batch,
    Reservation,
)

log = structlog.get_logger("hongyan.limits")

# KEYS[1] rate log, KEYS[2] day counter, KEYS[3] month counter, KEYS[4..] number logs.
# ARGV: now ms ("" = server clock), token, rate per second (0 = none), day cap (-1 = none),
# month cap (-1 = none), day TTL ms, month TTL ms, rate window ms, rate TTL ms, item count;
# then per item: its log's index in KEYS (0 = exempt), its window count w, then w pairs
# (window ms, max).
# Returns per item: 0 accepted, j > 0 refused by window j, -1 day cap, -2 month cap, -3 rate.
HIT_LUA = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local token = ARGV[2]
local rate = tonumber(ARGV[3])
local day_cap = tonumber(ARGV[4])
local month_cap = tonumber(ARGV[5])
local rate_window = tonumber(ARGV[8])
local n = tonumber(ARGV[10])
local out = {}
if rate > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - rate_window)
  if redis.call('ZCARD', KEYS[1]) >= rate then
    for i = 1, n do out[i] = -3 end
    return out
  end
  redis.call('ZADD', KEYS[1], now, token)
  redis.call('PEXPIRE', KEYS[1], ARGV[9])
end
local day_used = tonumber(redis.call('GET', KEYS[2]) or '0')
local month_used = tonumber(redis.call('GET', KEYS[3]) or '0')
local accepted = 0
local pos = 11
for i = 1, n do
  local k = tonumber(ARGV[pos])
  local w = tonumber(ARGV[pos + 1])
  pos = pos + 2
  local result = 0
  local longest = 0
  if k > 0 then
    for j = 0, w - 1 do
      local span = tonumber(ARGV[pos + 2 * j])
      if span > longest then longest = span end
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now - longest)
    for j = 0, w - 1 do
      local bound = string.format('(%d', now - tonumber(ARGV[pos + 2 * j]))
      if redis.call('ZCOUNT', KEYS[k], bound, '+inf') >= tonumber(ARGV[pos + 2 * j + 1]) then
        result = j + 1
        break
      end
    end
  end
  pos = pos + 2 * w
  if result == 0 then
    if day_cap >= 0 and day_used + accepted >= day_cap then
      result = -1
    elseif month_cap >= 0 and month_used + accepted >= month_cap then
      result = -2
    end
  end
  if result == 0 then
    accepted = accepted + 1
    if k > 0 then
      redis.call('ZADD', KEYS[k], now, token .. ':' .. (i - 1))
      redis.call('PEXPIRE', KEYS[k], longest)
    end
  end
  out[i] = result
end
if accepted > 0 then
  redis.call('INCRBY', KEYS[2], accepted)
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  redis.call('INCRBY', KEYS[3], accepted)
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
return out
"""

# KEYS: m number logs, then the counters. ARGV: m, the m members, then the count to give back.
RELEASE_LUA = """
local m = tonumber(ARGV[1])
for i = 1, m do
  redis.call('ZREM', KEYS[i], ARGV[i + 1])
end
local count = tonumber(ARGV[m + 2])
for i = m + 1, #KEYS do
  local left = tonumber(redis.call('GET', KEYS[i]) or '0')
  if left > 0 then
    redis.call('DECRBY', KEYS[i], math.min(left, count))
  end
end
return m
"""

# A dead Redis should refuse sends within seconds, not hang the request.
_TIMEOUT_SECS = 5.0


class RedisLimiter:
    """Logs and counters in Redis, shared by every process that uses the same server."""

    def __init__(self, url: str, *, client: Redis | None = None) -> None:
        self._redis = client or Redis.from_url(
            url, socket_connect_timeout=_TIMEOUT_SECS, socket_timeout=_TIMEOUT_SECS
        )
        self._hit = self._redis.register_script(HIT_LUA)
        self._release = self._redis.register_script(RELEASE_LUA)

    async def hit(self, batch: Batch) -> list[int]:
        """Check and record a batch with one script call (see ``Limiter.hit``)."""
        keys, args = hit_arguments(batch)
        try:
            raw = await self._hit(keys=keys, args=args)
        except RedisError as exc:
            raise _unreachable(exc) from exc
        return [int(code) for code in raw]

    async def release(self, reservation: Reservation) -> None:
        """Give back the hits of a reservation with one script call."""
        if not reservation.logs and not reservation.counters:
            return
        keys = [key for key, _ in reservation.logs] + list(reservation.counters)
        args: list[Any] = [len(reservation.logs)]
        args += [member for _, member in reservation.logs]
        args.append(reservation.count)
        try:
            await self._release(keys=keys, args=args)
        except RedisError as exc:
            raise _unreachable(exc) from exc

    async def counts(self, keys: Sequence[str]) -> list[int]:
        """Current counter values (one MGET)."""
        if not keys:
            return []
        try:
            values = await self._redis.mget(list(keys))
        except RedisError as exc:
            raise _unreachable(exc) from exc
        return [int(v) if v is not None else 0 for v in values]

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def hit_arguments(batch: Batch) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of the hit script for a batch (a key used by several items appears once)."""
    keys = [batch.rate_key, batch.day_key, batch.month_key]
    position: dict[str, int] = {}
    args: list[Any] = [
        "" if batch.now_ms is None else batch.now_ms,
        batch.token,
        batch.rate_per_sec or 0,
        -1 if batch.day_cap is None else batch.day_cap,
        -1 if batch.month_cap is None else batch.month_cap,
        DAY_TTL_MS,
        MONTH_TTL_MS,
        RATE_WINDOW_MS,
        RATE_TTL_MS,
        len(batch.checks),
    ]
    for check in batch.checks:
        if check.key is None or not check.windows:
            args += [0, 0]
            continue
        index = position.get(check.key)
        if index is None:
            keys.append(check.key)
            index = position[check.key] = len(keys)  # Lua counts from 1
        args += [index, len(check.windows)]
        for window in check.windows:
            args += [window.ms, window.max]
    return keys, args


def _unreachable(exc: RedisError) -> errors.HongyanError:
    # The caller sees a plain reason; the details (host, port) are for the operator's log.
    log.error("frequency-limit store failed", error=str(exc))
    return errors.NOT_READY(reason="the frequency-limit store is unreachable")
