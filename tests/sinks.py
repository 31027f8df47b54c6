"""Connector sinks for tests: they keep the receipts and inbound messages they are given."""

from __future__ import annotations

from collections.abc import Sequence

from hongyan.connectors.base import InboundSms, Receipt, Sinks


class Collector:
    """Sinks that keep what they are given; subclasses change how receipts are stored."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.inbound: list[InboundSms] = []

    async def on_receipts(self, items: Sequence[Receipt]) -> None:
        self.receipts.extend(items)

    async def on_inbound(self, items: Sequence[InboundSms]) -> None:
        self.inbound.extend(items)

    @property
    def sinks(self) -> Sinks:
        return Sinks(receipts=self.on_receipts, inbound=self.on_inbound)
