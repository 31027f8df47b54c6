"""ORM tables; importing this package registers every table on ``Base.metadata``."""

from hongyan.models.accounts import ApiKey, AuditEntry, AuthNonce, Tenant
from hongyan.models.base import Base, UTCDateTime, utcnow

__all__ = ["ApiKey", "AuditEntry", "AuthNonce", "Base", "Tenant", "UTCDateTime", "utcnow"]
