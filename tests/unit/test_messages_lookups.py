"""messages.lookups.Lookups: what is kept, for how long, and what a change drops."""

from __future__ import annotations

import pytest

from hongyan.messages import lookups
from hongyan.messages.lookups import Lookups


def test_kept_until_its_tenant_changes() -> None:
    cache = Lookups(ttl_secs=60)
    cache.put("ten_a", "sign", "鸿雁", "sign a", epoch=cache.epoch)
    cache.put("ten_b", "sign", "鸿雁", "sign b", epoch=cache.epoch)
    assert cache.get("ten_a", "sign", "鸿雁") == "sign a"
    cache.expire(["ten_a"])
    assert cache.get("ten_a", "sign", "鸿雁") is None
    assert cache.get("ten_b", "sign", "鸿雁") == "sign b"


def test_a_row_read_before_a_change_is_not_kept_after_it() -> None:
    cache = Lookups(ttl_secs=60)
    epoch = cache.epoch  # a send starts reading the sign...
    cache.expire(["ten_a"])  # ...a change to it commits meanwhile...
    cache.put("ten_a", "sign", "鸿雁", "old sign", epoch=epoch)  # ...its read is stale
    assert cache.get("ten_a", "sign", "鸿雁") is None


def test_nothing_is_kept_with_a_ttl_of_zero() -> None:
    cache = Lookups(ttl_secs=0)
    cache.put("ten_a", "tenant", "ten_a", "tenant a", epoch=cache.epoch)
    assert cache.get("ten_a", "tenant", "ten_a") is None


def test_a_full_cache_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookups, "MAX_ENTRIES", 2)
    cache = Lookups(ttl_secs=60)
    for name in ("a", "b", "c"):
        cache.put("ten_a", "sign", name, name, epoch=cache.epoch)
    assert cache.get("ten_a", "sign", "a") is None
    assert cache.get("ten_a", "sign", "c") == "c"
