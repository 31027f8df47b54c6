"""ORM tables; importing this package registers every table on ``Base.metadata``."""

from hongyan.models.accounts import ApiKey, AuditEntry, AuthNonce, Tenant
from hongyan.models.base import Base, UTCDateTime, utcnow
from hongyan.models.billing import BillingAccount, BillingRevision, LedgerEntry, Price
from hongyan.models.compliance import ComplianceRevision, SensitiveWord
from hongyan.models.connector_binds import ConnectorBindLease
from hongyan.models.inbound import InboundMessage
from hongyan.models.limits import LimitPolicy, LimitWhitelist
from hongyan.models.messages import (
    PRIORITY_OF,
    IdempotencyRecord,
    Message,
    MessageEvent,
    MessagePart,
    MessageStat,
    PendingReceipt,
    Suppression,
)
from hongyan.models.reviews import Review
from hongyan.models.routing import Connector, ConnectorHealth, Route, RoutingRevision
from hongyan.models.signs import Sign, SignFile
from hongyan.models.smpp_server import SmppBind, SmppCredential, SmppOutbox, SmppSubmit
from hongyan.models.templates import Template
from hongyan.models.webhooks import WebhookCallbackSecret, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuthNonce",
    "Base",
    "ComplianceRevision",
    "Review",
    "SensitiveWord",
    "Sign",
    "SignFile",
    "Template",
    "Tenant",
    "UTCDateTime",
    "utcnow",
]
__all__ += [
    "PRIORITY_OF",
    "IdempotencyRecord",
    "Message",
    "MessageEvent",
    "MessagePart",
    "MessageStat",
    "PendingReceipt",
    "Suppression",
]
__all__ += ["BillingAccount", "BillingRevision", "LedgerEntry", "Price"]
__all__ += ["LimitPolicy", "LimitWhitelist"]
__all__ += ["Connector", "ConnectorHealth", "Route", "RoutingRevision"]
__all__ += ["WebhookCallbackSecret", "WebhookDelivery", "WebhookEndpoint"]
__all__ += ["InboundMessage"]
__all__ += ["ConnectorBindLease"]
__all__ += ["SmppBind", "SmppCredential", "SmppOutbox", "SmppSubmit"]
