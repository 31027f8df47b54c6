"""Connector kinds: a plain dict from kind to class, and what each kind's settings must be.

A connector class declares, beside the Protocol's ``kind``, ``max_segments`` and
``rate_per_sec``:

- ``settings_model`` (or an inner ``Settings`` class): the pydantic model its settings must
  satisfy; the class is built as ``cls(id, settings_dict)``.
- ``secret_settings``: the setting keys that are secrets (passwords, API secrets). They are
  encrypted at rest and never shown back; declare them as plain ``str`` fields.

New kinds join with one line: ``REGISTRY["smpp"] = SmppConnector``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from hongyan import errors
from hongyan.connectors.aliyun import AliyunConnector
from hongyan.connectors.base import Connector, ConnectorFactory
from hongyan.connectors.generic_http import GenericHttpConnector
from hongyan.connectors.simulator import SimulatorConnector
from hongyan.connectors.smpp import SmppConnector
from hongyan.connectors.tencent import TencentConnector
from hongyan.connectors.twilio import TwilioConnector

REGISTRY: dict[str, ConnectorFactory] = {
    "aliyun": AliyunConnector,
    "simulator": SimulatorConnector,
    "tencent": TencentConnector,
    "twilio": TwilioConnector,
    "http": GenericHttpConnector,
    "smpp": SmppConnector,
}


def factory(kind: str) -> ConnectorFactory:
    """The class of a kind; CONNECTOR_KIND_UNKNOWN for a kind nobody registered."""
    try:
        return REGISTRY[kind]
    except KeyError:
        raise errors.CONNECTOR_KIND_UNKNOWN(
            field="kind", kind=kind, kinds=", ".join(sorted(REGISTRY))
        ) from None


def settings_model(kind: str) -> type[BaseModel]:
    """The pydantic model a kind's settings must satisfy."""
    cls = factory(kind)
    model = getattr(cls, "settings_model", None) or getattr(cls, "Settings", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"connector kind {kind!r} declares no pydantic settings model")
    return model


def secret_keys(kind: str) -> frozenset[str]:
    """The setting keys of a kind that are secrets (encrypted at rest, masked when shown)."""
    return frozenset(getattr(factory(kind), "secret_settings", frozenset()))


def validate_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings checked and completed with defaults, as JSON-ready values.

    Raises CONNECTOR_SETTINGS_INVALID naming the first bad setting.
    """
    model = settings_model(kind)
    try:
        checked = model.model_validate(settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise errors.CONNECTOR_SETTINGS_INVALID(
            field=f"settings.{where}", reason=str(first.get("msg", "invalid value"))
        ) from None
    dumped: dict[str, Any] = checked.model_dump(mode="json")
    return dumped


def build(kind: str, id: str, settings: dict[str, Any]) -> Connector:
    """A connector instance of ``kind`` with row id ``id`` and its plain (decrypted) settings."""
    validate_settings(kind, settings)
    return factory(kind)(id, settings)


def describe(kind: str) -> dict[str, Any]:
    """What the API shows about a kind: limits, settings schema, secret keys."""
    cls = factory(kind)
    return {
        "kind": kind,
        "max_segments": getattr(cls, "max_segments", None),
        "rate_per_sec": getattr(cls, "rate_per_sec", None),
        "simulated": bool(getattr(cls, "simulated", False)),
        "secret_settings": sorted(secret_keys(kind)),
        "settings_schema": settings_model(kind).model_json_schema(),
    }
