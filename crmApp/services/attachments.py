"""Attachment writes: store a checked file on a record of the organization, delete it."""

from __future__ import annotations

from typing import IO

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q, Sum

from crmApp.errors import TooLarge
from crmApp.models import ATTACHMENT_PARENTS, Attachment, Organization, User
from crmApp.services.audit import audit_record
from crmApp.services.blobs import blob_delete_now, blob_save, blobs_delete_after_commit

QUOTA_EXCEEDED = "This file would exceed the organization's attachment quota ({quota} bytes)."
FILE_TOO_LARGE = "The file is larger than the {limit} bytes an attachment may have."


@transaction.atomic
def attachment_create(
    *,
    parent: models.Model,
    file: IO[bytes],
    size: int,
    name: str,
    content_type: str,
    actor: User | None,
) -> Attachment:
    """Attach `file` (already checked: its type detected from the bytes, its name sanitised) to
    `parent`, a record of one of `ATTACHMENT_PARENTS` validated to be the caller's.

    The organization row is locked while its used space is summed, so two concurrent uploads
    cannot both pass the quota. The blob is written before the row; if anything here fails it
    is removed again.
    """
    if size > settings.ATTACHMENT_MAX_BYTES:
        raise TooLarge(FILE_TOO_LARGE.format(limit=settings.ATTACHMENT_MAX_BYTES))
    kind = type(parent)._meta.model_name
    if kind not in ATTACHMENT_PARENTS:
        raise ValueError(f"{kind!r} records take no attachments")
    organization_id = parent.organization_id  # type: ignore[attr-defined]
    Organization.objects.select_for_update().filter(pk=organization_id).first()
    used = Attachment.objects.filter(organization_id=organization_id).aggregate(total=Sum("size"))[
        "total"
    ]
    if (used or 0) + size > settings.ATTACHMENT_ORG_QUOTA_BYTES:
        raise TooLarge(QUOTA_EXCEEDED.format(quota=settings.ATTACHMENT_ORG_QUOTA_BYTES))
    blob_name, sha256 = blob_save(prefix="attachments", organization_id=organization_id, file=file)
    try:
        attachment = Attachment.objects.create(
            organization_id=organization_id,
            parent_type=kind,
            **{kind: parent},
            name=name,
            blob_name=blob_name,
            content_type=content_type,
            size=size,
            sha256=sha256,
            uploaded_by=actor if actor is not None and actor.is_authenticated else None,
        )
        audit_record(attachment, "created", actor=actor)
        return attachment
    except BaseException:
        blob_delete_now(blob_name)
        raise


@transaction.atomic(savepoint=False)
def attachment_delete(*, attachment: Attachment, actor: User | None) -> None:
    """Delete the row now and its blob once the deletion commits."""
    blobs_delete_after_commit([attachment.blob_name])
    audit_record(attachment, "deleted", actor=actor)
    attachment.delete()


def attachment_blobs_forget(model: type[models.Model], ids: list[int]) -> None:
    """Called before records of `model` are deleted (their attachments cascade with them, and so
    do those of their activities): their blobs are removed once that deletion commits."""
    kind = model._meta.model_name
    if kind not in ATTACHMENT_PARENTS:
        return
    attached = Q(**{f"{kind}_id__in": ids})
    if kind != "activity":
        attached |= Q(**{f"activity__{kind}_id__in": ids})
    names = Attachment.objects.filter(attached).values_list("blob_name", flat=True)
    blobs_delete_after_commit(list(names))
