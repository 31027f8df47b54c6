"""Rules of the accounts domain: tenants, enterprise verification, API keys, audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts import repository as repo
from hongyan.accounts.schemas import (
    KeyCreate,
    TenantAdminUpdate,
    TenantCreate,
    TenantSettingsUpdate,
    VerificationSubmit,
)
from hongyan.ids import new_id
from hongyan.kit.crypto import SecretBox, new_secret
from hongyan.models import ApiKey, AuditEntry, Tenant, utcnow


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, for the audit log."""

    role: str  # operator | tenant | cli | system
    key_id: str | None = None
    tenant_id: str | None = None
    ip: str | None = None


CLI_ACTOR = Actor(role="cli")


async def audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    tenant_id: str | None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record an operator or key-management action (never with a secret in details)."""
    await repo.add(
        session,
        AuditEntry(
            id=new_id("aud"),
            actor_key_id=actor.key_id,
            actor_role=actor.role,
            tenant_id=tenant_id,
            action=action,
            target_id=target_id,
            details=details,
            ip=actor.ip,
        ),
    )


# --- tenants ----------------------------------------------------------------------------------


async def create_tenant(session: AsyncSession, *, actor: Actor, req: TenantCreate) -> Tenant:
    if await repo.get_tenant_by_name(session, req.name):
        raise errors.TENANT_NAME_TAKEN(field="name", name=req.name)
    tenant = Tenant(
        id=new_id("ten"), status="active", verification_status="unverified", **req.model_dump()
    )
    await repo.add(session, tenant)
    await audit(
        session,
        actor,
        "tenant.create",
        tenant_id=tenant.id,
        target_id=tenant.id,
        details={"name": req.name},
    )
    return tenant


async def get_tenant(session: AsyncSession, tenant_id: str, *, for_update: bool = False) -> Tenant:
    tenant = await repo.get_tenant(session, tenant_id, for_update=for_update)
    if tenant is None:
        raise errors.TENANT_NOT_FOUND(field="id", id=tenant_id)
    return tenant


async def list_tenants(
    session: AsyncSession, *, limit: int, before_id: str | None, status: str | None = None
) -> list[Tenant]:
    return await repo.list_tenants(session, limit=limit, before_id=before_id, status=status)


async def update_tenant(
    session: AsyncSession,
    *,
    actor: Actor,
    tenant_id: str,
    req: TenantAdminUpdate | TenantSettingsUpdate,
) -> Tenant:
    tenant = await get_tenant(session, tenant_id, for_update=True)
    changes = req.model_dump(exclude_unset=True)
    new_name = changes.get("name")
    if new_name and new_name != tenant.name and await repo.get_tenant_by_name(session, new_name):
        raise errors.TENANT_NAME_TAKEN(field="name", name=new_name)
    for name, value in changes.items():
        setattr(tenant, name, value)
    await session.flush()
    await audit(
        session, actor, "tenant.update", tenant_id=tenant.id, target_id=tenant.id, details=changes
    )
    return tenant


async def set_tenant_status(
    session: AsyncSession, *, actor: Actor, tenant_id: str, status: str
) -> Tenant:
    """Suspend or resume; doing it twice is harmless (the second changes nothing)."""
    tenant = await get_tenant(session, tenant_id, for_update=True)
    if tenant.status != status:
        tenant.status = status
        await session.flush()
        action = "tenant.suspend" if status == "suspended" else "tenant.resume"
        await audit(session, actor, action, tenant_id=tenant.id, target_id=tenant.id)
    return tenant


async def submit_verification(
    session: AsyncSession, *, actor: Actor, tenant_id: str, req: VerificationSubmit
) -> Tenant:
    tenant = await get_tenant(session, tenant_id, for_update=True)
    if tenant.verification_status == "verified":
        raise errors.VERIFICATION_ALREADY_VERIFIED()
    tenant.verification_status = "pending"
    tenant.verification_details = req.model_dump()
    tenant.verification_reason = None
    tenant.verification_submitted_at = utcnow()
    tenant.verification_decided_at = None
    await session.flush()
    await audit(session, actor, "verification.submit", tenant_id=tenant.id, target_id=tenant.id)
    return tenant


async def decide_verification(
    session: AsyncSession,
    *,
    actor: Actor,
    tenant_id: str,
    approve: bool,
    reason: str | None = None,
) -> Tenant:
    tenant = await get_tenant(session, tenant_id, for_update=True)
    if tenant.verification_status != "pending":
        raise errors.VERIFICATION_NOT_PENDING(status=tenant.verification_status)
    tenant.verification_status = "verified" if approve else "rejected"
    tenant.verification_reason = None if approve else reason
    tenant.verification_decided_at = utcnow()
    await session.flush()
    action = "verification.approve" if approve else "verification.reject"
    await audit(
        session,
        actor,
        action,
        tenant_id=tenant.id,
        target_id=tenant.id,
        details={"reason": reason} if reason else None,
    )
    return tenant


# --- API keys ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once to the caller, never stored in clear nor logged


async def create_key(
    session: AsyncSession,
    *,
    actor: Actor,
    box: SecretBox,
    tenant_id: str | None,
    req: KeyCreate,
) -> CreatedKey:
    """A new key for a tenant, or an operator key when tenant_id is None."""
    if tenant_id is not None:
        await get_tenant(session, tenant_id)
    secret = new_secret()
    key = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        role="tenant" if tenant_id else "operator",
        name=req.name,
        scopes=list(dict.fromkeys(req.scopes)),
        secret_encrypted=box.encrypt(secret),
        secret_hint=secret[-4:],
        test_mode=req.test_mode and tenant_id is not None,
        status="active",
    )
    await repo.add(session, key)
    await audit(
        session,
        actor,
        "key.create",
        tenant_id=tenant_id,
        target_id=key.id,
        details={"name": req.name, "scopes": key.scopes, "test_mode": key.test_mode},
    )
    return CreatedKey(key, secret)


async def get_key(session: AsyncSession, *, tenant_id: str | None, key_id: str) -> ApiKey:
    """A key of this tenant (or an operator key when tenant_id is None); 404 for others'."""
    key = await repo.get_key(session, key_id)
    if key is None or key.tenant_id != tenant_id:
        raise errors.KEY_NOT_FOUND(field="id", id=key_id)
    return key


async def list_keys(
    session: AsyncSession, *, tenant_id: str | None, limit: int, before_id: str | None
) -> list[ApiKey]:
    return await repo.list_keys(session, tenant_id=tenant_id, limit=limit, before_id=before_id)


async def revoke_key(
    session: AsyncSession, *, actor: Actor, tenant_id: str | None, key_id: str
) -> ApiKey:
    key = await get_key(session, tenant_id=tenant_id, key_id=key_id)
    if key.status != "revoked":
        key.status = "revoked"
        key.revoked_at = utcnow()
        await session.flush()
        await audit(session, actor, "key.revoke", tenant_id=tenant_id, target_id=key.id)
    return key


async def list_audit(
    session: AsyncSession, *, tenant_id: str | None, limit: int, before_id: str | None
) -> list[AuditEntry]:
    return await repo.list_audit(session, tenant_id=tenant_id, limit=limit, before_id=before_id)
