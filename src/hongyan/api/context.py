"""What one process shares between requests: settings, database, crypto, authenticator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hongyan.accounts.auth import Authenticator
from hongyan.config import Settings
from hongyan.db import Database
from hongyan.kit.crypto import SecretBox


@dataclass
class AppContext:
    settings: Settings
    db: Database
    box: SecretBox
    auth: Authenticator
    # Domains park their process-wide caches here (e.g. compiled automatons), keyed by name.
    caches: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None) -> AppContext:
        db = db or Database.from_settings(settings)
        box = SecretBox(settings.resolve_secret_key())
        auth = Authenticator(
            db,
            box,
            window_secs=settings.auth_signature_window_secs,
            cache_secs=settings.auth_key_cache_secs,
        )
        return cls(settings=settings, db=db, box=box, auth=auth)
