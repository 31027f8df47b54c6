"""Bind state: which requests a bound (or unbound) link accepts (SMPP 3.4 section 2.3).

An ESME bound as transmitter sends submit_sm, data_sm, query_sm and cancel_sm; bound as
receiver it gets deliver_sm and data_sm; a transceiver does both. Before a bind only binds,
outbind, enquire_link and unbind are allowed; a second bind is ESME_RALYBND.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from hongyan.smpp.constants import CommandStatus
from hongyan.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CancelSm,
    DataSm,
    DeliverSm,
    Outbind,
    Pdu,
    QuerySm,
    SubmitSm,
)

__all__ = ["Bind", "BindMode", "Role", "bind_accepted", "bind_mode", "refusal"]

Bind = BindTransmitter | BindReceiver | BindTransceiver
Role = Literal["esme", "smsc"]  # which side of the link we are


class BindMode(StrEnum):
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"


_MODE_OF: Final[dict[type[Pdu], BindMode]] = {
    BindTransmitter: BindMode.TRANSMITTER,
    BindReceiver: BindMode.RECEIVER,
    BindTransceiver: BindMode.TRANSCEIVER,
}
_FROM_ESME: Final = frozenset({SubmitSm, DataSm, QuerySm, CancelSm})  # not on a receiver bind
_FROM_SMSC: Final = frozenset({DeliverSm, DataSm})  # not on a transmitter bind


def bind_mode(pdu: Pdu) -> BindMode | None:
    """The mode a bind request asks for; None when ``pdu`` is not a bind."""
    return _MODE_OF.get(type(pdu))


def bind_accepted(bind: Bind, response: Pdu) -> bool:
    """True when ``response`` is a successful answer to ``bind``."""
    return (
        response.sequence_number == bind.sequence_number
        and response.command_status == CommandStatus.ESME_ROK
        and type(response) is bind.response_class
    )


def refusal(pdu: Pdu, *, bound: BindMode | None, role: Role | None) -> int:
    """The command_status refusing the peer's request ``pdu`` in this state, or 0 to accept it."""
    kind = type(pdu)
    if kind in _MODE_OF:
        return CommandStatus.ESME_RALYBND if bound is not None else CommandStatus.ESME_ROK
    if kind is Outbind:
        return CommandStatus.ESME_ROK
    if bound is None:
        return CommandStatus.ESME_RINVBNDSTS
    if role == "smsc":
        allowed = kind in _FROM_ESME and bound is not BindMode.RECEIVER
    else:
        allowed = kind in _FROM_SMSC and bound is not BindMode.TRANSMITTER
    return CommandStatus.ESME_ROK if allowed else CommandStatus.ESME_RINVBNDSTS
