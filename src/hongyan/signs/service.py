"""Rules of the signs domain: sign names, their files, their review, their use.

States: ``pending -> approved | rejected`` (decided by an operator, see ``reviews.queue``), and
``canceled`` once the tenant deletes it. Only pending or rejected signs can be modified, which
submits them again; a pending sign cannot be deleted. A sign name whose words are on a
sensitive-word list with action block is rejected at once.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.compliance import service as compliance
from hongyan.ids import new_id
from hongyan.kit.storage import Storage, sniff_type
from hongyan.models import Sign, SignFile, utcnow
from hongyan.reviews import findings as rules
from hongyan.reviews import service as reviews
from hongyan.signs import repository as repo
from hongyan.signs.schemas import SignCreate, SignUpdate

NAME_MIN, NAME_MAX = 2, 12
MAX_FILE_BYTES = 5 * 1024 * 1024  # 5 MiB: a scanned licence fits; larger is a mistake
MAX_FILES = 10
ALLOWED_FILE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})

# Carriers add 【】 around the sign themselves; brackets inside it would be doubled or spoofed.
_BRACKETS = frozenset("【】[]()（）<>《》〈〉{}「」『』〔〕［］｛｝＜＞")
_PUNCTUATION_OK = frozenset(" -_.&·")


def check_name(name: str) -> str:
    """The sign name with outer spaces removed; SIGN_NAME_INVALID naming the problem."""
    name = unicodedata.normalize("NFC", name.strip())

    def invalid(reason: str) -> errors.HongyanError:
        return errors.SIGN_NAME_INVALID(field="name", name=name, reason=reason)

    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise invalid(f"it has {len(name)} characters, not {NAME_MIN} to {NAME_MAX}")
    for ch in name:
        if ch in _BRACKETS:
            raise invalid(f"brackets such as '{ch}' are not allowed")
        if _is_emoji(ch):
            raise invalid("emoji are not allowed")
        if not (ch.isalnum() or ch in _PUNCTUATION_OK):
            raise invalid(f"the character '{ch}' is not allowed")
    return name


def _is_emoji(ch: str) -> bool:
    code = ord(ch)
    # Pictographs, dingbats, variation selectors and the joiner that glues emoji sequences.
    return (
        code >= 0x1F000
        or 0x2600 <= code <= 0x27BF
        or 0xFE00 <= code <= 0xFE0F
        or code == 0x200D
        or unicodedata.category(ch) == "So"
    )


def snapshot(sign: Sign) -> dict[str, Any]:
    """What is submitted for review: the fields and the files."""
    return {
        "name": sign.name,
        "purpose": sign.purpose,
        "source": sign.source,
        "remark": sign.remark,
        "files": [
            {"id": f.id, "filename": f.filename, "content_type": f.content_type} for f in sign.files
        ],
    }


async def _submit(session: AsyncSession, *, ctx: AppContext, sign: Sign) -> None:
    """Run the automatic checks and put this version in the operator's queue (or reject it)."""
    hits = await compliance.scan(session, ctx=ctx, tenant_id=sign.tenant_id, text=sign.name)
    found = rules.from_hits(hits, where="name")
    # Signs always need an operator, trusted tenant or not: only a block rejects at once.
    status = "rejected" if rules.outcome(found, trusted=False) == "rejected" else "pending"
    sign.status = status
    sign.findings = [f.as_dict() for f in found]
    sign.reason = None
    sign.submitted_at = utcnow()
    sign.decided_at = sign.submitted_at if status == "rejected" else None
    await session.flush()
    await reviews.submit(
        session,
        tenant_id=sign.tenant_id,
        subject_kind="sign",
        subject_id=sign.id,
        version=sign.version,
        snapshot=snapshot(sign),
        findings=found,
        status=status,
    )


async def create(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str, req: SignCreate
) -> Sign:
    """Apply for a sign name; it waits for an operator's review."""
    name = check_name(req.name)
    sign = Sign(
        id=new_id("sgn"),
        tenant_id=tenant_id,
        name=name,
        purpose=req.purpose,
        source=req.source,
        remark=req.remark,
        status="pending",
        findings=[],
        version=1,
        files=[],
    )
    if not await repo.add(session, sign):
        raise errors.SIGN_NAME_TAKEN(field="name", name=name)
    await _submit(session, ctx=ctx, sign=sign)
    return sign


async def get(
    session: AsyncSession, *, tenant_id: str, sign_id: str, for_update: bool = False
) -> Sign:
    """A sign of this tenant; SIGN_NOT_FOUND for others' (they are not told it exists)."""
    sign = await repo.get(session, sign_id, for_update=for_update)
    if sign is None or sign.tenant_id != tenant_id:
        raise errors.SIGN_NOT_FOUND(field="id", id=sign_id)
    return sign


async def list_signs(
    session: AsyncSession, *, tenant_id: str, status: str | None, limit: int, before_id: str | None
) -> list[Sign]:
    """The tenant's signs, newest first (limit + 1 rows, for paging)."""
    return await repo.list_signs(
        session, tenant_id=tenant_id, status=status, limit=limit, before_id=before_id
    )


def _require_modifiable(sign: Sign) -> None:
    if sign.status not in ("pending", "rejected"):
        raise errors.SIGN_NOT_MODIFIABLE(field="id", id=sign.id, status=sign.status)


async def update(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str, sign_id: str, req: SignUpdate
) -> Sign:
    """Change a pending or rejected sign; the new version goes back to review."""
    sign = await get(session, tenant_id=tenant_id, sign_id=sign_id, for_update=True)
    _require_modifiable(sign)
    changes = req.model_dump(exclude_unset=True)
    if changes.get("name") is not None:
        name = check_name(changes.pop("name"))
        if name != sign.name and not await repo.rename(session, sign, name):
            raise errors.SIGN_NAME_TAKEN(field="name", name=name)
    for field, value in changes.items():
        if value is not None or field == "remark":
            setattr(sign, field, value)
    sign.version += 1
    await _submit(session, ctx=ctx, sign=sign)
    return sign


async def delete(session: AsyncSession, *, tenant_id: str, sign_id: str) -> Sign:
    """Cancel a sign that is not under review; its name is free again. Twice is harmless."""
    sign = await get(session, tenant_id=tenant_id, sign_id=sign_id, for_update=True)
    if sign.status == "pending":
        raise errors.SIGN_UNDER_REVIEW(field="id", id=sign.id)
    if sign.status != "canceled":
        sign.status = "canceled"
        sign.canceled_at = utcnow()
        await session.flush()
    return sign


async def lock_for_decision(session: AsyncSession, sign_id: str) -> Sign:
    """The sign behind a review, locked while an operator's decision is recorded."""
    sign = await repo.get(session, sign_id, for_update=True)
    if sign is None:
        raise errors.SIGN_NOT_FOUND(field="id", id=sign_id)
    return sign


# --- qualification files ----------------------------------------------------------------------


def _clean_filename(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:200] or "file"


async def add_file(
    session: AsyncSession,
    *,
    ctx: AppContext,
    storage: Storage,
    tenant_id: str,
    sign_id: str,
    filename: str | None,
    data: bytes,
) -> SignFile:
    """Attach a PDF/PNG/JPEG of at most 5 MiB; a rejected sign goes back to review."""
    sign = await get(session, tenant_id=tenant_id, sign_id=sign_id, for_update=True)
    _require_modifiable(sign)
    if len(data) > MAX_FILE_BYTES:
        raise errors.FILE_TOO_LARGE(field="file", limit=MAX_FILE_BYTES)
    content_type = sniff_type(data)
    if content_type not in ALLOWED_FILE_TYPES:
        raise errors.FILE_TYPE_NOT_ALLOWED(field="file")
    if len(sign.files) >= MAX_FILES:
        raise errors.SIGN_FILES_TOO_MANY(field="file", limit=MAX_FILES)
    file_id = new_id("fil")
    key = f"signs/{tenant_id}/{file_id}"
    # Written before the row commits: a failed commit leaves an orphan file, never a row
    # pointing at nothing.
    await storage.put(key, data)
    row = SignFile(
        id=file_id,
        sign_id=sign.id,
        tenant_id=tenant_id,
        filename=_clean_filename(filename),
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
    )
    await repo.add_file(session, sign, row)
    await _files_changed(session, ctx=ctx, sign=sign)
    return row


async def _files_changed(session: AsyncSession, *, ctx: AppContext, sign: Sign) -> None:
    # Still undecided: the reviewer sees the files as they are now, same version. Rejected:
    # the tenant is answering the rejection, so it is a new version for review.
    if sign.status == "pending":
        await reviews.refresh_snapshot(session, subject_id=sign.id, snapshot=snapshot(sign))
    else:
        sign.version += 1
        await _submit(session, ctx=ctx, sign=sign)


def _file_of(sign: Sign, file_id: str) -> SignFile:
    for file in sign.files:
        if file.id == file_id:
            return file
    raise errors.FILE_NOT_FOUND(field="file_id", id=file_id)


async def remove_file(
    session: AsyncSession,
    *,
    ctx: AppContext,
    storage: Storage,
    tenant_id: str,
    sign_id: str,
    file_id: str,
) -> None:
    """Detach a file from a pending or rejected sign and forget its bytes."""
    sign = await get(session, tenant_id=tenant_id, sign_id=sign_id, for_update=True)
    _require_modifiable(sign)
    file = _file_of(sign, file_id)
    await repo.remove_file(session, sign, file)
    await _files_changed(session, ctx=ctx, sign=sign)
    await storage.delete(file.storage_key)


async def read_file(
    session: AsyncSession, *, storage: Storage, tenant_id: str | None, sign_id: str, file_id: str
) -> tuple[SignFile, bytes]:
    """A file of a sign and its bytes; tenant_id None is the operator, who sees every sign."""
    sign = await repo.get(session, sign_id)
    if sign is None or (tenant_id is not None and sign.tenant_id != tenant_id):
        raise errors.SIGN_NOT_FOUND(field="id", id=sign_id)
    file = _file_of(sign, file_id)
    return file, await storage.get(file.storage_key)


# --- use on the send path ---------------------------------------------------------------------


async def get_by_name(session: AsyncSession, *, tenant_id: str, name: str) -> Sign:
    """The tenant's live (not deleted) sign of this name, whatever its review state."""
    sign = await repo.get_live_by_name(session, tenant_id, name.strip().strip("【】"))
    if sign is None:
        raise errors.SIGN_NOT_FOUND(field="sign", id=name)
    return sign


async def get_approved(session: AsyncSession, *, tenant_id: str, name: str) -> Sign:
    """The tenant's live sign of this name, if approved: SIGN_NOT_FOUND / SIGN_NOT_APPROVED."""
    sign = await get_by_name(session, tenant_id=tenant_id, name=name)
    if sign.status != "approved":
        raise errors.SIGN_NOT_APPROVED(field="sign", name=sign.name, status=sign.status)
    return sign


def check_sign_for_template(sign: Sign, template_kind: str) -> None:
    """A verification-only sign sends verification templates only (SIGN_SCENE_MISMATCH)."""
    if sign.purpose == "verification" and template_kind != "verification":
        raise errors.SIGN_SCENE_MISMATCH(field="sign", name=sign.name, kind=template_kind)
