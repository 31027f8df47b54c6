"""The per-recipient checks of a bulk run (``messages.bulk``), each done once per distinct input.

The order and the codes are those of ``messages.service._draft`` (the batch endpoint): the
sign, the template's params, the number, the content, a sign for mainland numbers, the
number of segments. The functions are the same too (``signs.get_approved``,
``templates.render``, ``templates.render_checked``, ``compliance.scan``, the process's number
parser, ``analyze``); only their results are kept, in bounded caches, because a campaign sends
the same text to many numbers and the same params to many recipients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Generic, NamedTuple, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.compliance import service as compliance
from hongyan.errors import HongyanError, Lang
from hongyan.kit.segments import SegmentInfo, analyze
from hongyan.messages.schemas import Kind
from hongyan.models import Sign, Template, Tenant, utcnow
from hongyan.numbers.parse import NumberParser
from hongyan.numbers.service import parser_of
from hongyan.signs import service as signs
from hongyan.templates import service as templates
from hongyan.templates.render import render
from hongyan.webhooks.urls import validate_url

# As messages.service: a message may be scheduled at most this far ahead.
MAX_SCHEDULE_DAYS = 30
# Bounds of the per-run caches (entries); past them a cache starts over. Each entry is a
# rendered text or a segment count of ~100-300 bytes, so a cache stays under ~10 MiB.
CACHE_ENTRIES = 20_000

Refusal = tuple[int, str]  # (recipient index, catalog code)
ParamsKey = tuple[tuple[str, str], ...]  # a params set, hashable
# draft_all lets other tasks run (the previous chunk's writes) every this many recipients.
YIELD_EVERY = 250
NO_PARAMS: Mapping[str, str] = MappingProxyType({})
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class BulkSend:
    """What every recipient of a run shares (as the fields of a batch request)."""

    tenant_id: str
    sign: str | None
    template: str | None = None
    body: str | None = None
    kind: Kind | None = None  # of free text; a template carries its own
    region: str = "CN"  # for numbers written without a country code
    send_at: datetime | None = None
    validity: int | None = None  # seconds after due
    tag: str | None = None
    callback_url: str | None = None
    api_key_id: str | None = None
    test_mode: bool = False  # accepted, never billed (as a test key's messages)


class Recipient(NamedTuple):
    """One recipient: the number as written, the template's params, the caller's own id.

    A tuple rather than a frozen dataclass: a million of them are made per campaign, and a
    frozen dataclass sets each field through ``object.__setattr__`` (several times slower).
    """

    to: str
    params: Mapping[str, str] = NO_PARAMS
    out_id: str | None = None


@dataclass(slots=True)
class Draft:
    """A recipient that passed the per-recipient checks: what will be stored."""

    index: int
    recipient: Recipient
    msisdn: str
    region: str | None
    carrier: str | None
    sign: str | None
    info: SegmentInfo
    params_key: ParamsKey
    amount: int = 0
    currency: str = "CNY"


class Bounded(Generic[K, V]):
    """A dict that starts over when full: campaigns repeat values close together."""

    def __init__(self, limit: int = CACHE_ENTRIES) -> None:
        self.limit = limit
        self.data: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self.data.get(key)

    def put(self, key: K, value: V) -> V:
        if len(self.data) >= self.limit:
            self.data.clear()
        self.data[key] = value
        return value


@dataclass(frozen=True, slots=True)
class _Rendered:
    """A distinct params set: refused before the number (params), or its text and content code."""

    params_code: str | None
    text: str = ""
    content_code: str | None = None


@dataclass(slots=True)
class Drafter:
    """What a run shares, and the caches of its per-recipient checks."""

    ctx: AppContext
    req: BulkSend
    tenant: Tenant
    template: Template | None
    kind: Kind
    region: str
    lang: Lang
    status: str
    due_at: datetime
    validity_until: datetime | None
    sign: Sign | None
    sign_code: str | None  # the sign's refusal, the same for every recipient
    body_code: str | None  # the free text's refusal (CONTENT_BLOCKED), after the number's
    parser: NumberParser
    rendered: Bounded[ParamsKey, _Rendered] = field(default_factory=Bounded)
    segments: Bounded[tuple[str, bool], SegmentInfo] = field(default_factory=Bounded)

    @classmethod
    async def start(
        cls, session: AsyncSession, *, ctx: AppContext, req: BulkSend, lang: Lang
    ) -> Drafter:
        """Request-level checks (raised, as the batch endpoint raises them), then the sign."""
        tenant = await accounts.get_tenant(session, req.tenant_id)
        if tenant.status != "active":
            raise errors.TENANT_SUSPENDED()
        template = await _template(session, tenant, req)
        kind = cast(Kind, template.kind) if template else (req.kind or "notification")
        due_at, status = _due(req)
        if req.callback_url is not None:
            validate_url(
                req.callback_url,
                allow_private=ctx.settings.webhook_allow_private_hosts,
                field="callback_url",
            )
        sign, sign_code = await _sign(session, tenant, req.sign, kind)
        body_code = None
        if template is None:
            assert req.body is not None
            body_code = await _free_text_code(session, ctx, tenant.id, req.body)
        return cls(
            ctx=ctx,
            req=req,
            tenant=tenant,
            template=template,
            kind=kind,
            region=req.region.upper(),
            lang=lang,
            status=status,
            due_at=due_at,
            validity_until=due_at + timedelta(seconds=req.validity) if req.validity else None,
            sign=sign,
            sign_code=sign_code,
            body_code=body_code,
            parser=parser_of(ctx),
        )

    async def draft_all(
        self, session: AsyncSession, chunk: Sequence[tuple[int, Recipient]]
    ) -> tuple[list[Draft], list[Refusal]]:
        """The drafts of a chunk and the refusals of the others, in recipient order."""
        drafts: list[Draft] = []
        refusals: list[Refusal] = []
        for count, (index, recipient) in enumerate(chunk, 1):
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # the previous chunk's writes go on meanwhile
            try:
                outcome = await self._draft(session, index, recipient)
            except HongyanError as exc:  # e.g. NUMBER_REGION_UNKNOWN from the parser
                outcome = exc.code
            if isinstance(outcome, str):
                refusals.append((index, outcome))
            else:
                drafts.append(outcome)
        return drafts, refusals

    async def _draft(self, session: AsyncSession, index: int, recipient: Recipient) -> Draft | str:
        if self.sign_code is not None:
            return self.sign_code
        rendered = None
        params_key = tuple(sorted(recipient.params.items())) if recipient.params else ()
        if self.template is not None:  # params first, so their errors come before the number's
            rendered = await self._render(session, params_key, recipient.params)
            if rendered.params_code is not None:
                return rendered.params_code
        number = self.parser.parse(recipient.to, region=self.region, lang=self.lang)
        if not number.sendable or number.e164 is None:
            return number.reason if number.reason in errors.CATALOG else errors.NUMBER_INVALID.code
        if rendered is not None:
            assert self.template is not None
            text, content_code = rendered.text, rendered.content_code
            international = self.template.international
        else:
            text, content_code, international = self.req.body or "", self.body_code, False
        if content_code is not None:
            return content_code
        mainland = number.region == "CN" and not international
        if mainland and self.sign is None:
            return errors.SIGN_REQUIRED.code
        info = self._analyze(text, mainland)
        if info.segments > self.ctx.settings.messages_max_segments:
            return errors.TOO_MANY_SEGMENTS.code
        sign = self.sign.name if self.sign else None
        return Draft(
            index, recipient, number.e164, number.region, number.carrier, sign, info, params_key
        )

    async def _render(
        self, session: AsyncSession, key: ParamsKey, params: Mapping[str, str]
    ) -> _Rendered:
        """The template with these params: checked, rendered and scanned once per distinct set."""
        found = self.rendered.get(key)
        if found is not None:
            return found
        assert self.template is not None
        allowed = self.ctx.settings.link_allowed_domains
        try:
            render(self.template, params, allowed_domains=allowed)
        except HongyanError as exc:
            return self.rendered.put(key, _Rendered(exc.code))
        try:
            done = await templates.render_checked(
                session,
                ctx=self.ctx,
                tenant_id=self.tenant.id,
                template=self.template,
                params=params,
            )
        except HongyanError as exc:
            return self.rendered.put(key, _Rendered(None, "", exc.code))
        return self.rendered.put(key, _Rendered(None, done.text))

    def _analyze(self, text: str, mainland: bool) -> SegmentInfo:
        key = (text, mainland)
        info = self.segments.get(key)
        if info is None:
            sign = self.sign.name if self.sign else None
            info = self.segments.put(key, analyze(text, sign=sign, mainland=mainland))
        return info


async def _template(session: AsyncSession, tenant: Tenant, req: BulkSend) -> Template | None:
    if req.template is None:
        if req.body is None:
            raise errors.TEMPLATE_OR_BODY_REQUIRED(field="template")
        if not tenant.free_text_allowed:
            raise errors.FREE_TEXT_NOT_ALLOWED(field="body")
        return None
    if req.body is not None:
        raise errors.TEMPLATE_OR_BODY_REQUIRED(field="template")
    try:
        return await templates.get_approved(session, tenant_id=tenant.id, template_id=req.template)
    except HongyanError as exc:
        exc.field = "template"
        raise


def _due(req: BulkSend) -> tuple[datetime, str]:
    now = utcnow()
    if req.send_at is None:
        return now, "queued"
    send_at = req.send_at
    if send_at.tzinfo is None or not now < send_at <= now + timedelta(MAX_SCHEDULE_DAYS):
        raise errors.SEND_AT_INVALID(field="send_at", max_days=MAX_SCHEDULE_DAYS)
    return send_at, "scheduled"


async def _sign(
    session: AsyncSession, tenant: Tenant, name: str | None, kind: str
) -> tuple[Sign | None, str | None]:
    """The run's sign, or the code every recipient is refused with (as the batch does)."""
    if not name:
        return None, None
    try:
        sign = await signs.get_approved(session, tenant_id=tenant.id, name=name)
        signs.check_sign_for_template(sign, kind)
    except HongyanError as exc:
        return None, exc.code
    return sign, None


async def _free_text_code(
    session: AsyncSession, ctx: AppContext, tenant_id: str, body: str
) -> str | None:
    for hit in await compliance.scan(session, ctx=ctx, tenant_id=tenant_id, text=body):
        if hit.action == "block":
            return errors.CONTENT_BLOCKED.code
    return None
