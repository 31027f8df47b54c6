"""First run of the embedded default: an operator key, a demo tenant and its key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.accounts import repository as repo
from hongyan.accounts import service
from hongyan.accounts.schemas import KeyCreate, TenantCreate
from hongyan.kit.crypto import SecretBox

SYSTEM = service.Actor(role="system")


@dataclass(frozen=True, slots=True)
class FirstRun:
    operator: service.CreatedKey
    tenant_id: str
    tenant_key: service.CreatedKey


async def first_run(session: AsyncSession, *, box: SecretBox) -> FirstRun | None:
    """Create the starting accounts when the database has no key at all; else do nothing."""
    if await repo.count_keys(session) > 0:
        return None
    operator = await service.create_key(
        session, actor=SYSTEM, box=box, tenant_id=None, req=KeyCreate(name="operator")
    )
    tenant = await service.create_tenant(
        session,
        actor=SYSTEM,
        req=TenantCreate(name="demo", free_text_allowed=True, trusted=True),
    )
    tenant_key = await service.create_key(
        session, actor=SYSTEM, box=box, tenant_id=tenant.id, req=KeyCreate(name="demo")
    )
    return FirstRun(operator=operator, tenant_id=tenant.id, tenant_key=tenant_key)
