"""The content check: what the matcher finds in a text and what the handset will get."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.api.context import AppContext
from hongyan.compliance import service
from hongyan.compliance.matcher import Hit
from hongyan.compliance.schemas import ContentCheck, ContentCheckOut, HitOut, OptOutCheck
from hongyan.kit.segments import analyze


def _squash(text: str) -> str:
    # The templates domain compares opt-out phrases ignoring case and spaces; so does this.
    return "".join(text.split()).casefold()


def opt_out_present(text: str, phrases: list[str]) -> bool:
    """True when one of the accepted opt-out phrases is in the text."""
    squashed = _squash(text)
    return any(_squash(p) in squashed for p in phrases if p.strip())


def hit_out(text: str, hit: Hit) -> HitOut:
    return HitOut(
        word=hit.word,
        category=hit.category,
        action=hit.action,
        start=hit.start,
        end=hit.end,
        matched=text[hit.start : hit.end],
    )


async def check_content(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str | None, req: ContentCheck
) -> ContentCheckOut:
    """Scan the text with the global and the tenant's lists and count what it costs to send."""
    hits = await service.scan(session, ctx=ctx, tenant_id=tenant_id, text=req.text)
    blocked = any(h.action == "block" for h in hits)
    info = analyze(req.text, sign=req.sign, mainland=req.mainland)
    opt_out = None
    if req.template_kind == "marketing":
        phrases = list(ctx.settings.template_opt_out_phrases)
        opt_out = OptOutCheck(present=opt_out_present(req.text, phrases), phrases=phrases)
    return ContentCheckOut(
        blocked=blocked,
        needs_review=bool(hits) and not blocked,
        hits=[hit_out(req.text, h) for h in hits],
        display_text=info.text,
        encoding=info.encoding.value,
        characters=info.characters,
        units=info.units,
        segments=info.segments,
        per_segment=info.per_segment,
        parts=list(info.parts),
        opt_out=opt_out,
    )
