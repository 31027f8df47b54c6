"""Errors of the SMPP codec and session.

Exception tree::

    SmppError                    anything the SMPP package raises on purpose
    ├── PduError                 bytes that are not a valid PDU; the decoder raises nothing else
    │   ├── TruncatedPduError    the bytes end before the header or a field does
    │   ├── CommandLengthError   command_length below 16 or not the frame's length
    │   ├── UnknownCommandError  a command_id Hongyan does not decode (answer ESME_RINVCMDID)
    │   ├── CStringError         a C-Octet string without its NUL within the field's size
    │   ├── TlvError             a TLV running past the body, or a known TLV of the wrong size
    │   └── PduEncodeError       a value that cannot be encoded (too long, out of range); also
    │                            a ValueError: the caller's mistake, not the peer's
    └── SessionError             the session could not carry a request through
        ├── SessionClosedError   the link is gone (or going): whether in-flight requests
        │                        reached the peer is unknown
        ├── ResponseTimeoutError no response within response_timeout_secs
        ├── WindowFullError      send() without a free window slot (see wait_for_window())
        └── BindFailedError      the peer refused a bind; ``command_status`` says why

A ``PduError`` carries what was read of the header (``command_id``, ``sequence_number``, 0
when unknown) and ``command_status``, the ESME_R* value to answer the PDU with, so a session
can send the right generic_nack or error response without a second parse.
"""

from __future__ import annotations

from hongyan.smpp.constants import CommandStatus, status_name


class SmppError(Exception):
    """Base of every error the SMPP package raises on purpose."""


class PduError(SmppError):
    """Bytes that are not a valid SMPP PDU."""

    default_status: int = CommandStatus.ESME_RSYSERR

    def __init__(
        self,
        message: str,
        *,
        command_id: int = 0,
        sequence_number: int = 0,
        command_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.command_status = self.default_status if command_status is None else command_status


class TruncatedPduError(PduError):
    default_status = CommandStatus.ESME_RINVCMDLEN


class CommandLengthError(PduError):
    default_status = CommandStatus.ESME_RINVCMDLEN


class UnknownCommandError(PduError):
    default_status = CommandStatus.ESME_RINVCMDID


class CStringError(PduError):
    default_status = CommandStatus.ESME_RINVPARLEN


class TlvError(PduError):
    default_status = CommandStatus.ESME_RINVOPTPARSTREAM


class PduEncodeError(PduError, ValueError):
    """A field value that cannot be put on the wire."""


class SessionError(SmppError):
    """A request could not be carried through the session."""


class SessionClosedError(SessionError):
    """The link is closed or closing; whether in-flight requests arrived is unknown."""


class ResponseTimeoutError(SessionError):
    """The peer did not answer a request in time; it may still have acted on it."""


class WindowFullError(SessionError):
    """Every window slot holds an outstanding request."""


class BindFailedError(SessionError):
    """The peer answered a bind with an error status."""

    def __init__(self, command_status: int) -> None:
        super().__init__(f"bind refused: {status_name(command_status)}")
        self.command_status = command_status
