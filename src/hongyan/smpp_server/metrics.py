"""Prometheus metrics of the SMPP server for tenants (``hongyan_smpp_server_*``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

BINDS = Gauge("hongyan_smpp_server_binds", "Tenant binds open on this process", ["mode"])
BIND_REFUSALS = Counter(
    "hongyan_smpp_server_bind_refusals_total", "Binds refused, by catalog code", ["code"]
)
SUBMITS = Counter(
    "hongyan_smpp_server_submits_total",
    "Whole messages submitted over SMPP, by outcome (accepted or the catalog code)",
    ["outcome"],
)
DELIVERIES = Counter(
    "hongyan_smpp_server_deliver_sm_total",
    "deliver_sm (receipts, MO) sent to tenants, by result: acked, refused, lost (bind gone), "
    "unanswered",
    ["result"],
)
