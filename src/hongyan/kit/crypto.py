"""Encryption of secrets at rest, keyed by the instance's secret key."""

from __future__ import annotations

import base64
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    """Encrypts and decrypts small secrets (API key secrets, connector passwords).

    The Fernet key is derived from the instance secret with HKDF and a purpose label, so the
    same secret key can serve other purposes later without reusing key material.
    """

    def __init__(self, secret_key: bytes, purpose: bytes = b"hongyan/secrets/v1") -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
            secret_key
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext; raises ValueError when the token was made with another key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted: wrong secret key?") from exc


def new_secret(prefix: str = "hys") -> str:
    """A new random API secret (256 bits), prefixed so leaked secrets are recognizable."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
