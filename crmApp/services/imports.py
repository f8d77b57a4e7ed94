"""Import job writes: create (file stored, work queued), start, batch commits, cancel, fail.

The rows themselves are validated by the resource's API form (crmApp/importing.py) and written
here through the batch record services, in one transaction per batch together with the job's
counters, the refused rows and the chunk's progress: a batch counts exactly when its writes do.
"""

from __future__ import annotations

from typing import IO, Any

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from crmApp.errors import TransitionNotAllowed
from crmApp.models import ImportChunk, ImportJob, ImportRowError, User, next_codes
from crmApp.services.audit import audit_record, audit_values
from crmApp.services.blobs import blob_delete_now, blob_save
from crmApp.services.records import records_create_many, records_update_many

NOT_CANCELLABLE = "Only a pending or running import can be cancelled."


@transaction.atomic
def import_job_create(
    *, organization_id: int, actor: User | None, file: IO[bytes], **fields: Any
) -> ImportJob:
    """Store the uploaded file and create the job (the caller queues its planning task).

    `fields` are the validated form's (resource, mode, match_on, dry_run, mapping, columns,
    encoding, delimiter, file_name, file_size).
    """
    blob_name, _sha256 = blob_save(prefix="imports", organization_id=organization_id, file=file)
    try:
        job = ImportJob.objects.create(
            organization_id=organization_id,
            created_by=actor if actor is not None and actor.is_authenticated else None,
            blob_name=blob_name,
            **fields,
        )
        audit_record(job, "created", actor=actor)
    except BaseException:
        blob_delete_now(blob_name)
        raise
    return job


@transaction.atomic
def import_job_start(
    *, job: ImportJob, chunks: list[tuple[int, int, int]], rows_total: int
) -> list[int]:
    """Claim a pending job and record its chunks `(offset, first_row, rows)`; their ids.

    A job that is already running (its planning task delivered again) keeps its chunks and
    answers the ids of those not done yet, so they can be handed out again.
    """
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    if locked.status == ImportJob.Status.RUNNING and locked.chunks_total:
        return [
            chunk.pk
            for chunk in ImportChunk.objects.filter(job=locked).order_by("index")
            if not chunk.done
        ]
    if locked.status not in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING):
        return []
    now = timezone.now()
    locked.status = ImportJob.Status.RUNNING if chunks else ImportJob.Status.COMPLETED
    locked.rows_total = rows_total
    locked.chunks_total = len(chunks)
    locked.started_at = now
    locked.finished_at = None if chunks else now
    locked.save(
        update_fields=[
            "status",
            "rows_total",
            "chunks_total",
            "started_at",
            "finished_at",
            "updated_at",
        ]
    )
    created = ImportChunk.objects.bulk_create(
        ImportChunk(job=locked, index=index, offset=offset, first_row=first_row, rows=rows)
        for index, (offset, first_row, rows) in enumerate(chunks)
    )
    return [chunk.pk for chunk in created]


@transaction.atomic
def import_job_fail(*, job: ImportJob, reason: str) -> None:
    """End a job that cannot go on (unreadable file, too many rows, permission lost)."""
    ImportJob.objects.filter(
        pk=job.pk, status__in=(ImportJob.Status.PENDING, ImportJob.Status.RUNNING)
    ).update(
        status=ImportJob.Status.FAILED,
        error=reason[:2000],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


@transaction.atomic
def import_job_cancel(*, job: ImportJob, actor: User | None) -> ImportJob:
    """Stop a pending or running job before its next batch; batches already committed stay."""
    now = timezone.now()
    cancelled = ImportJob.objects.filter(
        pk=job.pk, status__in=(ImportJob.Status.PENDING, ImportJob.Status.RUNNING)
    ).update(status=ImportJob.Status.CANCELLED, finished_at=now, updated_at=now)
    if not cancelled:
        raise TransitionNotAllowed(NOT_CANCELLABLE)
    before = audit_values(job)
    job.refresh_from_db()
    audit_record(job, "cancelled", actor=actor, before=before)
    return job


def import_job_running(job_id: int) -> bool:
    """Whether the job may still go on (checked before every batch: cancel takes effect)."""
    return ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).exists()


def import_codes_reserve(
    *, model: type[models.Model], organization_id: int, count: int
) -> list[str] | None:
    """Reserve `count` codes of `model` for an import batch, committed at once (outside any
    transaction of the caller's): the batch then writes without holding the counter row.
    None for a model without codes."""
    prefix = getattr(model, "CODE_PREFIX", "")
    if not prefix:
        return None
    with transaction.atomic():
        return next_codes(organization_id=organization_id, prefix=prefix, count=count)


def import_batch_commit(
    *,
    chunk: ImportChunk,
    model: type[models.Model],
    creates: list[dict[str, Any]],
    updates: list[tuple[models.Model, dict[str, Any]]],
    unchanged: int,
    errors: list[tuple[int, str, dict]],
    rows: int,
    actor: User | None,
    dry_run: bool,
    codes: list[str] | None = None,
) -> None:
    """Write one validated batch with its bookkeeping; the caller holds the transaction.

    A dry run writes only the bookkeeping (what would be created or updated, and why rows are
    refused). `codes`, one per create, are those `import_codes_reserve` reserved (else they
    are reserved here). The chunk's last batch also counts the chunk done, and the chunk that
    makes the count complete finishes the job (a conditional UPDATE, so exactly one of the
    concurrent chunks does it).
    """
    job = chunk.job
    # The rows last but for the job's counters: the job row is shared by concurrent chunks.
    ImportRowError.objects.bulk_create(
        ImportRowError(job_id=job.pk, row_number=number, reason=reason, values=values)
        for number, reason, values in errors
    )
    chunk.rows_done += rows
    ImportChunk.objects.filter(pk=chunk.pk).update(rows_done=chunk.rows_done)
    finished_chunk = chunk.done
    if not dry_run:
        records_update_many(model, changes=updates, actor=actor)
        records_create_many(
            model, organization_id=job.organization_id, rows=creates, actor=actor, codes=codes
        )
    ImportJob.objects.filter(pk=job.pk).update(
        rows_read=F("rows_read") + rows,
        rows_created=F("rows_created") + len(creates),
        rows_updated=F("rows_updated") + len(updates),
        rows_unchanged=F("rows_unchanged") + unchanged,
        rows_failed=F("rows_failed") + len(errors),
        chunks_done=F("chunks_done") + (1 if finished_chunk else 0),
        updated_at=timezone.now(),
    )
    if finished_chunk:
        now = timezone.now()
        ImportJob.objects.filter(
            pk=job.pk, status=ImportJob.Status.RUNNING, chunks_done=F("chunks_total")
        ).update(status=ImportJob.Status.COMPLETED, finished_at=now, updated_at=now)
