"""The compiled routing table and the circuit breaker, without a database."""

from __future__ import annotations

import random

import pytest

from hongyan import errors
from hongyan.config import Settings
from hongyan.connectors.base import OutboundSms
from hongyan.routing.health import Health
from hongyan.routing.table import RoutingTable, compile_route


def sms(**fields: object) -> OutboundSms:
    base: dict[str, object] = {
        "message_id": "msg_1",
        "tenant_id": "ten_a",
        "msisdn": "+8613912345678",
        "text": "hi",
        "encoding": "gsm7",
        "segments": 1,
        "kind": "notification",
        "region": "CN",
    }
    return OutboundSms(**{**base, **fields})  # type: ignore[arg-type]


def table(*routes: dict[str, object], simulators: tuple[str, ...] = ()) -> RoutingTable:
    compiled = [
        compile_route(  # type: ignore[arg-type]
            **{"id": f"rte_{i}", "name": f"r{i}", "priority": 100, "weight": 1, **r}
        )
        for i, r in enumerate(routes)
    ]
    kinds = {str(r["connector_id"]): "vendor" for r in routes} | {
        s: "simulator" for s in simulators
    }
    return RoutingTable(routes=compiled, simulators=list(simulators), kinds=kinds)


def test_no_route_names_region_and_kind() -> None:
    t = table({"connector_id": "con_us", "countries": ["US"]})
    with pytest.raises(errors.HongyanError) as raised:
        t.order(sms(), None)
    assert raised.value.code == "NO_ROUTE"
    assert raised.value.params == {"region": "CN", "kind": "notification"}


def test_tenant_routes_merge_with_general_ones_by_priority_and_dedupe() -> None:
    t = table(
        {"connector_id": "con_general", "priority": 50},
        {"connector_id": "con_own", "priority": 10, "tenant_ids": ["ten_a"]},
        {"connector_id": "con_general", "priority": 60, "carriers": ["China Mobile"]},
        {"connector_id": "con_late", "priority": 70, "tenant_ids": ["ten_a", "ten_b"]},
    )
    assert t.order(sms(), "CHINA MOBILE") == ["con_own", "con_general", "con_late"]
    assert t.order(sms(tenant_id="ten_b"), None) == ["con_general", "con_late"]
    assert t.order(sms(tenant_id="ten_c"), None) == ["con_general"]


def test_open_breakers_go_last_and_test_mode_goes_to_simulators() -> None:
    t = table(
        {"connector_id": "con_a", "priority": 1},
        {"connector_id": "con_b", "priority": 2},
        {"connector_id": "con_sim", "priority": 3},
        simulators=("con_sim", "con_sim2"),
    )
    assert t.order(sms(), None, is_open=lambda c: c == "con_a") == ["con_b", "con_sim", "con_a"]
    assert t.order(sms(test_mode=True), None) == ["con_sim", "con_sim2"]


def test_weights_split_within_a_priority() -> None:
    t = table({"connector_id": "con_a", "weight": 9}, {"connector_id": "con_b", "weight": 1})
    rng = random.Random(1)
    firsts = [t.order(sms(), None, rng=rng)[0] for _ in range(1000)]
    assert 850 <= firsts.count("con_a") <= 950


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def health(**settings: object) -> tuple[Health, Clock]:
    clock = Clock()
    values: dict[str, object] = {
        "routing_breaker_failures": 3,
        "routing_breaker_cooloff_secs": 30.0,
        "routing_breaker_min_attempts": 10,
        "routing_breaker_failure_percent": 50.0,
        **settings,
    }
    return Health(Settings(**values), clock=clock), clock  # type: ignore[arg-type]


def test_breaker_opens_cools_off_probes_and_closes() -> None:
    h, clock = health()
    for _ in range(2):
        h.record("con_a", False, 10.0)
    assert not h.is_open("con_a")
    h.record("con_a", False, 10.0)  # third failure in a row
    assert h.is_open("con_a") and not h.allow("con_a")
    assert h.snapshot("con_a").breaker == "open"  # type: ignore[union-attr]
    clock.now += 31
    assert h.snapshot("con_a").breaker == "half_open"  # type: ignore[union-attr]
    assert h.allow("con_a")  # the probe
    assert not h.allow("con_a")  # only one at a time
    h.record("con_a", False, 10.0)  # the probe failed: open again
    assert h.is_open("con_a")
    clock.now += 31
    assert h.allow("con_a")
    h.record("con_a", True, 5.0)  # the probe succeeded
    assert not h.is_open("con_a") and h.allow("con_a")
    snap = h.snapshot("con_a")
    assert snap is not None and snap.breaker == "closed" and snap.consecutive_failures == 0


def test_failure_rate_over_the_window_opens_and_old_buckets_expire() -> None:
    h, clock = health(routing_breaker_failures=1000, routing_breaker_window_secs=60)
    for _ in range(5):  # alternating: never 1000 in a row, but 50% over 10 sends
        h.record("con_a", True, 1.0)
        assert not h.is_open("con_a")
        h.record("con_a", False, 1.0)
    assert h.is_open("con_a")
    snap = h.snapshot("con_a")
    assert snap is not None and (snap.attempts, snap.failures) == (10, 5)
    assert snap.success_rate == 0.5 and snap.latency_avg_ms == 1.0
    clock.now += 61
    snap = h.snapshot("con_a")
    assert snap is not None and snap.attempts == 0 and snap.success_rate is None


def test_a_lost_probe_does_not_block_forever() -> None:
    h, clock = health()
    h.record_many("con_a", ok=0, failed=3, latency_ms=1.0)
    clock.now += 31
    assert h.allow("con_a")  # the probe's sender is then cancelled: nothing is recorded
    assert not h.allow("con_a")
    clock.now += 31
    assert h.allow("con_a")
