"""Billing pieces that need no database: price lookup order, the caches, request bodies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hongyan.billing.cache import PriceCache, PriceTable, Terms, TermsCache, UnitPrice
from hongyan.billing.schemas import AdjustIn, BillingUpdate, PriceSet, TopupIn

TABLE = PriceTable.build(
    7,
    [
        ("CN", "verification", 4, "CNY"),
        ("CN", "*", 5, "CNY"),
        ("*", "marketing", 9, "CNY"),
        ("*", "*", 30, "CNY"),
    ],
)


@pytest.mark.parametrize(
    ("country", "kind", "expected"),
    [
        ("CN", "verification", 4),  # country and kind
        ("CN", "marketing", 5),  # the country beats the kind
        ("US", "marketing", 9),  # the kind, any country
        ("US", "notification", 30),  # the default
        (None, "marketing", 9),  # unknown destination: the "*" prices only
        (None, "verification", 30),
    ],
)
def test_the_most_specific_price_is_found(country: str | None, kind: str, expected: int) -> None:
    assert TABLE.lookup(country, kind) == UnitPrice(expected, "CNY")


def test_no_price_without_a_default() -> None:
    table = PriceTable.build(1, [("CN", "*", 5, "CNY")])
    assert table.lookup("US", "marketing") is None
    assert table.lookup(None, "marketing") is None


def test_the_price_cache_is_due_once_per_interval_or_when_expired() -> None:
    cache = PriceCache(refresh_secs=1.0)
    assert cache.due(0.0)  # empty
    cache.put(TABLE, now=10.0)
    assert not cache.due(10.5) and cache.due(11.0)
    cache.expire()
    assert cache.due(10.1)


def test_terms_are_kept_for_their_ttl_and_the_least_used_go_first() -> None:
    cache = TermsCache(ttl=1.0, max_entries=2)
    cache.put("a", Terms("CNY", "on_send"), now=0.0)
    assert cache.get("a", 0.9) == Terms("CNY", "on_send")
    assert cache.get("a", 1.0) is None
    cache.put("a", Terms("CNY", "on_send"), now=5.0)
    cache.put("b", Terms("USD", "on_delivery"), now=5.0)
    assert cache.get("a", 5.1)  # a is now the most recently used
    cache.put("c", Terms("EUR", "on_send"), now=5.2)
    assert cache.get("b", 5.3) is None and cache.get("a", 5.3) and cache.get("c", 5.3)
    cache.expire("a")
    assert cache.get("a", 5.3) is None


def test_bodies_keep_amounts_integral_and_in_range() -> None:
    assert PriceSet(country="cn", unit_price=5).kind == "*"
    for bad in ({"country": "CN", "unit_price": 0.5}, {"country": "CHN", "unit_price": 1}):
        with pytest.raises(ValidationError):
            PriceSet.model_validate(bad)
    with pytest.raises(ValidationError):
        TopupIn(amount=0)
    with pytest.raises(ValidationError, match="zero"):
        AdjustIn(amount=0, note="x")
    assert AdjustIn(amount=-5, note="x").amount == -5
    assert BillingUpdate.model_validate({}).model_dump(exclude_unset=True) == {}
    with pytest.raises(ValidationError):
        BillingUpdate.model_validate({"charge_policy": "monthly"})
