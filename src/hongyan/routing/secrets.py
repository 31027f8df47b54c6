"""Secret connector settings: encrypted at rest, masked when shown, kept when patched with the mask.

A kind names its secret keys (``secret_settings``, see ``connectors.registry``). In the stored
settings each of them holds ``{"$encrypted": <Fernet token>}``; the API shows ``"***"`` in
its place, and a PATCH that sends ``"***"`` back keeps the stored value, so an operator can
edit the other settings of a connector without knowing its password.
"""

from __future__ import annotations

from typing import Any

from hongyan import errors
from hongyan.connectors import registry
from hongyan.kit.crypto import SecretBox

ENCRYPTED = "$encrypted"
MASK = "***"


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {ENCRYPTED}


def seal(kind: str, plain: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    """Settings as stored: the kind's secret values replaced by their encryption."""
    secret = registry.secret_keys(kind)
    for key in secret:
        if plain.get(key) == MASK:  # the mask keeps a stored secret; here there is none
            raise errors.CONNECTOR_SETTINGS_INVALID(
                field=f"settings.{key}",
                reason=f"'{MASK}' stands for a stored secret; give the value",
            )
    return {
        key: {ENCRYPTED: box.encrypt(str(value))} if key in secret and value is not None else value
        for key, value in plain.items()
    }


def unseal(kind: str, stored: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    """Settings as the connector needs them: secrets decrypted.

    Raises CONNECTOR_SETTINGS_INVALID when a secret was encrypted with another secret key.
    """
    return {key: _open(key, value, box) for key, value in stored.items()}


def _open(key: str, value: Any, box: SecretBox) -> Any:
    if not _is_sealed(value):
        return value
    try:
        return box.decrypt(value[ENCRYPTED])
    except ValueError:
        raise errors.CONNECTOR_SETTINGS_INVALID(
            field=f"settings.{key}",
            reason="stored with another secret key; set it again",
        ) from None


def mask(kind: str, stored: dict[str, Any]) -> dict[str, Any]:
    """Settings as shown: every secret that is set appears as ``***``."""
    secret = registry.secret_keys(kind)
    return {
        key: MASK if key in secret and value is not None else value for key, value in stored.items()
    }


def merge(
    kind: str, stored: dict[str, Any], patch: dict[str, Any], box: SecretBox
) -> dict[str, Any]:
    """Plain settings after a PATCH: top-level keys replaced; a secret sent as ``***`` is kept."""
    secret = registry.secret_keys(kind)
    kept = {k: v for k, v in stored.items() if k not in patch or (k in secret and patch[k] == MASK)}
    plain = unseal(kind, kept, box)
    plain.update({k: v for k, v in patch.items() if k not in plain})
    return plain
