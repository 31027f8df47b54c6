"""The SQL of connector bind leases (``connector_bind_lease``); see ``routing.binds``.

Every statement that takes or keeps a lease is conditional on the row as it is now (the
owner, or a lease that ran out), so two workers racing for one bind cannot both win: on
PostgreSQL the loser's UPDATE waits for the winner's row lock, re-reads the row and matches
nothing; the loser's INSERT finds the key taken and does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import ConnectorBindLease

Lease = ConnectorBindLease
BindKey = tuple[str, int]  # (connector id, bind index)


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def all_leases(session: AsyncSession) -> list[ConnectorBindLease]:
    """Every lease row (a handful: one per bind of each leased connector)."""
    stmt = select(Lease).order_by(Lease.connector_id, Lease.bind_index)
    return list((await session.execute(stmt)).scalars())


async def renew(
    session: AsyncSession,
    key: BindKey,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    bound: bool,
) -> bool:
    """Push out a lease ``owner`` still holds; False when another worker took it over."""
    stmt = (
        update(Lease)
        .where(Lease.connector_id == key[0], Lease.bind_index == key[1], Lease.owner == owner)
        .values(lease_until=lease_until, heartbeat_at=now, bound=bound)
        .returning(Lease.bind_index)
        .execution_options(synchronize_session=False)  # the rows read stay as they were read
    )
    return (await session.execute(stmt)).first() is not None


async def acquire(
    session: AsyncSession, key: BindKey, *, owner: str, now: datetime, lease_until: datetime
) -> bool:
    """Take a bind nobody holds: a new row, or one whose lease ran out. True when taken."""
    taken_over = (
        update(Lease)
        .where(Lease.connector_id == key[0], Lease.bind_index == key[1], Lease.lease_until < now)
        .values(owner=owner, lease_until=lease_until, heartbeat_at=now, acquired_at=now)
        .values(bound=False)
        .returning(Lease.bind_index)
        .execution_options(synchronize_session=False)
    )
    if (await session.execute(taken_over)).first() is not None:
        return True
    created = (
        _insert(session)(Lease)
        .values(
            connector_id=key[0],
            bind_index=key[1],
            owner=owner,
            lease_until=lease_until,
            heartbeat_at=now,
            acquired_at=now,
            bound=False,
        )
        .on_conflict_do_nothing()
        .returning(Lease.bind_index)
    )
    return (await session.execute(created)).first() is not None


async def release(session: AsyncSession, keys: Iterable[BindKey], *, owner: str) -> None:
    """Give up leases ``owner`` holds (its connector stopped, or it shuts down)."""
    wanted = list(keys)
    if wanted:
        await session.execute(
            delete(Lease)
            .where(tuple_(Lease.connector_id, Lease.bind_index).in_(wanted), Lease.owner == owner)
            .execution_options(synchronize_session=False)
        )


async def forget_expired(
    session: AsyncSession, connector_ids: Iterable[str], *, now: datetime
) -> None:
    """Drop the expired leases of connectors that need none any more (disabled, removed)."""
    wanted = list(connector_ids)
    if wanted:
        await session.execute(
            delete(Lease)
            .where(Lease.connector_id.in_(wanted), Lease.lease_until < now)
            .execution_options(synchronize_session=False)
        )
