"""Rules of SMPP credentials: issuing, changing, rotating, and checking a bind against them.

A bind is checked in an order that tells a caller only what it could learn anyway: the
system_id must exist (ESME_RINVSYSID), the address must be allowed (before the password, so a
scanner off the allowlist cannot guess passwords), the password must match (ESME_RINVPASWD);
only then are a disabled credential, a suspended tenant or too many binds reported.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.accounts.service import Actor
from hongyan.api.context import AppContext
from hongyan.ids import looks_like, new_id
from hongyan.models import SmppCredential, utcnow
from hongyan.smpp_server import repository as repo
from hongyan.smpp_server.passwords import hash_password, new_password, verify_password
from hongyan.smpp_server.schemas import (
    CredentialCreate,
    CredentialOut,
    CredentialRotate,
    CredentialUpdate,
)

_DEFAULTS = {
    "allowed_sources": [],
    "max_binds": 4,
    "messages_per_sec": 50.0,
    "ip_allowlist": [],
    "deliver_mo": True,
}


@dataclass(frozen=True, slots=True)
class Issued:
    """A credential and the password to hand over (never stored in clear)."""

    credential: SmppCredential
    password: str


@dataclass(frozen=True, slots=True)
class BoundCredential:
    """What an open bind keeps of its credential."""

    id: str
    tenant_id: str
    system_id: str
    allowed_sources: frozenset[str]
    messages_per_sec: float
    deliver_mo: bool


# --- the operator's credentials -----------------------------------------------------------------


async def create(session: AsyncSession, *, actor: Actor, req: CredentialCreate) -> Issued:
    """Issue a credential for a tenant; the password is generated unless given."""
    await accounts.get_tenant(session, req.tenant_id)
    if await repo.get_by_system_id(session, req.system_id) is not None:
        raise errors.SMPP_SYSTEM_ID_TAKEN(field="system_id", system_id=req.system_id)
    password = req.password or new_password()
    given = req.model_dump(exclude={"tenant_id", "system_id", "password"}, exclude_none=True)
    row = SmppCredential(
        id=new_id("smc"),
        tenant_id=req.tenant_id,
        system_id=req.system_id,
        password_hash=await asyncio.to_thread(hash_password, password),
        **{**_DEFAULTS, **given},
    )
    try:
        async with session.begin_nested():
            await repo.add(session, row)
    except IntegrityError:  # a concurrent create took the system_id
        raise errors.SMPP_SYSTEM_ID_TAKEN(field="system_id", system_id=req.system_id) from None
    await accounts.audit(
        session,
        actor,
        "smpp_credential.create",
        tenant_id=row.tenant_id,
        target_id=row.id,
        details={"system_id": row.system_id, **given},
    )
    return Issued(row, password)


async def get(session: AsyncSession, ref: str, *, for_update: bool = False) -> SmppCredential:
    """A credential by id (smc_...) or system_id; SMPP_CREDENTIAL_NOT_FOUND otherwise."""
    if looks_like(ref, "smc"):
        row = await repo.get_credential(session, ref, for_update=for_update)
    else:
        found = await repo.get_by_system_id(session, ref)
        row = found and await repo.get_credential(session, found.id, for_update=for_update)
    if row is None:
        raise errors.SMPP_CREDENTIAL_NOT_FOUND(field="id", id=ref)
    return row


async def list_credentials(
    session: AsyncSession, *, tenant_id: str | None, limit: int, before_id: str | None
) -> list[SmppCredential]:
    """Newest first (limit+1 rows: the extra one says there is more)."""
    return await repo.list_credentials(
        session, tenant_id=tenant_id, limit=limit, before_id=before_id
    )


async def update(
    session: AsyncSession, *, actor: Actor, ref: str, req: CredentialUpdate
) -> SmppCredential:
    """Change limits, the note or the enabled flag; open binds keep their limits until rebind."""
    row = await get(session, ref, for_update=True)
    changes = req.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k == "note"}
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    action = "smpp_credential.update"
    if set(changes) == {"enabled"}:
        action = "smpp_credential.enable" if changes["enabled"] else "smpp_credential.disable"
    await accounts.audit(
        session, actor, action, tenant_id=row.tenant_id, target_id=row.id, details=changes
    )
    return row


async def rotate(session: AsyncSession, *, actor: Actor, ref: str, req: CredentialRotate) -> Issued:
    """A new password; the old one stops working for new binds at once."""
    row = await get(session, ref, for_update=True)
    password = req.password or new_password()
    row.password_hash = await asyncio.to_thread(hash_password, password)
    row.password_changed_at = utcnow()
    await session.flush()
    await accounts.audit(
        session, actor, "smpp_credential.rotate", tenant_id=row.tenant_id, target_id=row.id
    )
    return Issued(row, password)


async def delete(session: AsyncSession, *, actor: Actor, ref: str) -> SmppCredential:
    """Remove a credential with its undelivered receipts; its open binds are refused from now."""
    row = await get(session, ref, for_update=True)
    await repo.delete_credential(session, row.id)
    await accounts.audit(
        session,
        actor,
        "smpp_credential.delete",
        tenant_id=row.tenant_id,
        target_id=row.id,
        details={"system_id": row.system_id},
    )
    return row


def live_since(ctx: AppContext, now: datetime | None = None) -> datetime:
    """Bind rows with a heartbeat after this are alive (three missed heartbeats: dead)."""
    return (now or utcnow()) - timedelta(seconds=3 * ctx.settings.smpp_server_bind_heartbeat_secs)


async def views(
    session: AsyncSession, *, ctx: AppContext, rows: list[SmppCredential]
) -> list[CredentialOut]:
    """The API view of credentials, with the binds each has open now."""
    counts = await repo.live_binds(session, [r.id for r in rows], since=live_since(ctx))
    return [
        CredentialOut.model_validate(r).model_copy(update={"binds": counts.get(r.id, 0)})
        for r in rows
    ]


# --- binds ------------------------------------------------------------------------------------


def ip_allowed(ip: str | None, allowlist: list[str]) -> bool:
    """True when the list is empty or holds a network containing ip."""
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in allowlist)


async def authenticate(
    ctx: AppContext, *, system_id: str, password: str, ip: str | None
) -> BoundCredential:
    """Check a bind's credentials (see the module docstring); raise the catalog refusal."""
    async with ctx.db.session() as session:
        found = await repo.get_with_tenant(session, system_id)
    if found is None:
        raise errors.SMPP_SYSTEM_ID_UNKNOWN(field="system_id")
    row, tenant = found
    if not ip_allowed(ip, row.ip_allowlist):
        raise errors.SMPP_IP_NOT_ALLOWED(ip=ip)
    if not await asyncio.to_thread(verify_password, password, row.password_hash):
        raise errors.SMPP_PASSWORD_WRONG(field="password")
    if not row.enabled or tenant.status != "active":
        raise errors.SMPP_CREDENTIAL_DISABLED()
    return BoundCredential(
        id=row.id,
        tenant_id=row.tenant_id,
        system_id=row.system_id,
        allowed_sources=frozenset(row.allowed_sources),
        messages_per_sec=row.messages_per_sec,
        deliver_mo=row.deliver_mo,
    )


async def register_bind(
    ctx: AppContext, *, credential_id: str, bind_id: str, server_id: str, mode: str, peer: str
) -> None:
    """Record an open bind, or refuse it (SMPP_TOO_MANY_BINDS) when the credential is full.

    The credential row is locked while counting, so two binds racing for the last slot on two
    processes are counted one after the other.
    """
    now = utcnow()
    async with ctx.db.session() as session:
        row = await repo.get_credential(session, credential_id, for_update=True)
        if row is None:
            raise errors.SMPP_SYSTEM_ID_UNKNOWN(field="system_id")
        live = await repo.live_binds(session, [row.id], since=live_since(ctx, now))
        if live.get(row.id, 0) >= row.max_binds:
            raise errors.SMPP_TOO_MANY_BINDS(max=row.max_binds)
        await repo.insert_bind(
            session,
            {
                "id": bind_id,
                "credential_id": row.id,
                "server_id": server_id,
                "mode": mode,
                "peer": peer[:64],
                "bound_at": now,
                "heartbeat_at": now,
            },
        )
        await repo.touch_bind_time(session, row.id, now)


async def forget_binds(ctx: AppContext, bind_ids: list[str]) -> None:
    """Delete the rows of binds that closed."""
    async with ctx.db.session() as session:
        await repo.delete_binds(session, bind_ids)


async def heartbeat(ctx: AppContext, bind_ids: list[str]) -> None:
    """Keep this process's binds counted; drop rows of binds whose process died long ago."""
    now = utcnow()
    async with ctx.db.session() as session:
        await repo.heartbeat(session, bind_ids, now)
        await repo.purge_dead_binds(session, now - timedelta(hours=1))


async def still_allowed(ctx: AppContext, credential_ids: list[str]) -> set[str]:
    """Which of these credentials may keep their binds (they exist, are enabled, tenant active)."""
    if not credential_ids:
        return set()
    async with ctx.db.session() as session:
        return set(await repo.allowed_ids(session, credential_ids))
