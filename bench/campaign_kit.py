"""What S2 and S5 share: a fresh database with a tenant ready for a campaign, and its recipients.

Not a scenario itself. ``ready_tenant`` does on any backend what a new installation does (the
first run: operator key, demo tenant and key, approved demo sign, a price for every country),
then what an operator would do for a tenant about to send a campaign: enterprise verification,
a marketing template approved, a big balance, a list of suppressed numbers, and the limits
(the defaults, or none). ``recipients`` makes the list: mostly unique mainland mobiles written
bare, a share of other forms, a few numbers that are not mobiles or not numbers, and the
suppressed ones, each with its own params drawn from a bounded set.
"""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import harness

from hongyan.accounts import service as accounts
from hongyan.accounts.bootstrap import first_run
from hongyan.accounts.schemas import VerificationSubmit
from hongyan.api.context import AppContext
from hongyan.billing import service as billing
from hongyan.inbound import repository as inbound_repo
from hongyan.limits import service as limits
from hongyan.limits.schemas import LimitsUpdate
from hongyan.models import utcnow
from hongyan.reviews import queue
from hongyan.reviews import service as reviews
from hongyan.routing import service as routing
from hongyan.templates import service as templates
from hongyan.templates.schemas import TemplateCreate

# A marketing text of one UCS-2 segment with the sign, two variables and the opt-out words.
TEMPLATE = "${name}您好，您的${points}积分将于月底到期，请及时兑换。拒收请回复R"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GARBAGE = ("010-6552", "0571-8888", "12345", "no phone")
COMPANY = {
    "company_name": "杭州鸿雁科技有限公司",
    "registration_number": "91330100MA2KXXXX1X",
    "legal_representative": "张三",
    "contact_name": "李四",
    "contact_phone": "13800138000",
}


@dataclass(frozen=True, slots=True)
class Ready:
    """The tenant of a run: ids, its key (for the HTTP API), sign and template."""

    tenant_id: str
    key_id: str
    secret: str
    sign: str
    template_id: str
    suppressed: frozenset[str]  # E.164

    @property
    def credentials(self) -> harness.Credentials:
        return harness.Credentials(self.tenant_id, self.key_id, self.secret, self.sign)


async def ready_tenant(
    ctx: AppContext, *, suppressed: int = 1_000, default_limits: bool = True
) -> Ready:
    """The first run, then a verified tenant with an approved marketing template (see above)."""
    await ctx.db.upgrade()
    async with ctx.db.session() as session:
        created = await first_run(session, ctx=ctx)
        assert created is not None, "not a fresh database"
        await routing.ensure_default_simulator(session, ctx=ctx)
    tenant_id = created.tenant_id
    async with ctx.db.session() as session:
        actor = accounts.CLI_ACTOR
        await accounts.submit_verification(
            session, actor=actor, tenant_id=tenant_id, req=VerificationSubmit(**COMPANY)
        )
        await accounts.decide_verification(session, actor=actor, tenant_id=tenant_id, approve=True)
    async with ctx.db.session() as session:
        template = await templates.create(
            session,
            ctx=ctx,
            tenant_id=tenant_id,
            req=TemplateCreate(kind="marketing", name="积分到期提醒", content=TEMPLATE),
        )
        for review in await reviews.list_reviews(session, subject_id=template.id, limit=10):
            await queue.decide(session, actor=actor, review_id=review.id, approve=True)
        await billing.topup(session, actor=actor, tenant_id=tenant_id,
                            amount=harness.BIG_BALANCE_FEN, note="benchmark balance")  # fmt: skip
        if not default_limits:
            none: dict[str, Any] = {"verification": [], "notification": [], "marketing": []}
            lifted = LimitsUpdate.model_validate({"rules": none})
            await limits.set_limits(session, ctx=ctx, actor=actor, tenant_id=tenant_id, req=lifted)
        numbers = frozenset(f"+86137{i:08d}" for i in range(suppressed))
        rows = [{"tenant_id": tenant_id, "msisdn": n, "source": "import", "note": None,
                 "created_at": utcnow()} for n in numbers]  # fmt: skip
        for start in range(0, len(rows), 1_000):
            await inbound_repo.add_suppressions(session, rows[start : start + 1_000])
    key = created.tenant_key
    return Ready(tenant_id, key.key.id, key.secret, created.sign, template.id, numbers)


def recipients(
    count: int, *, seed: int = 7, distinct_params: int = 10_000, suppressed: int = 1_000
) -> Iterator[tuple[str, dict[str, str]]]:
    """(number as written, params) for ``count`` recipients, the same for the same seed.

    Per 1,000: 10 are suppressed numbers, 10 are landlines or garbage, and a fifth of the
    mobiles are written in another form than 11 bare digits. Every mobile is unique (serials
    are scattered, so the list is not sorted). Params are drawn from ``distinct_params`` sets,
    made once (cheap to draw: the list's cost should not hide the engine's).
    """
    rng = random.Random(seed)
    draw = rng.random
    pool = [_params(pick) for pick in range(distinct_params)]
    for serial in range(count):
        slot = serial % 1000
        if slot < 10 and suppressed:
            number = f"137{int(draw() * suppressed):08d}"
        elif slot < 20:
            number = GARBAGE[slot % len(GARBAGE)] + str(slot)
        else:
            number = f"139{_shuffled(serial):08d}"
            if (form := draw()) < 0.2:
                number = _rewritten(number, form)
        yield number, pool[int(draw() * distinct_params)]


def _params(pick: int) -> dict[str, str]:
    name = SURNAMES[pick % len(SURNAMES)] + ("先生" if pick % 2 else "女士")
    return {"name": name, "points": str(100 + pick // len(SURNAMES))}


def _rewritten(bare: str, form: float) -> str:
    """A bare mobile in one of the other forms people write (``form`` in [0, 0.2))."""
    if form < 0.07:
        return f"+86 {bare[:3]} {bare[3:7]} {bare[7:]}"
    if form < 0.14:
        return "86" + bare
    return f"{bare[:3]}-{bare[3:7]}-{bare[7:]}"


def _shuffled(serial: int) -> int:
    """A bijection of serials below 10**8 that scatters neighbours (not sorted on insert)."""
    return (serial * 48_271 + 12_345) % 10**8


async def scratch_postgres(server_url: str, stack: contextlib.AsyncExitStack, tag: str) -> str:
    """A new database on the server, dropped when ``stack`` closes; its SQLAlchemy URL."""
    server = server_url.replace("postgresql+asyncpg://", "postgresql://")
    base = server.rpartition("/")[0].split("://", 1)[1]
    name = f"hongyan_bench_{tag}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')

    async def drop() -> None:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    stack.push_async_callback(drop)
    return f"postgresql+asyncpg://{base}/{name}"
