"""Celery tasks of CSV imports, on the `imports` queue.

Apart from crmApp.tasks because they run the API's forms (crmApp/importing.py), which the
services that queue the other tasks must not import; the Celery app discovers this module by
name (crmAdmin/celery.py). Both tasks are idempotent: a job or chunk that is done, cancelled or
failed is left alone, and a chunk resumes after its last committed batch.
"""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError

from crmApp.importing import import_chunk, import_plan
from crmApp.tasks import RETRYING, publish

#: A chunk that runs out of time is retried at once: it resumes after its last committed batch.
CHUNK_TASK = {
    **RETRYING,
    "autoretry_for": (DatabaseError, SoftTimeLimitExceeded),
    "retry_backoff": False,
    "soft_time_limit": settings.IMPORT_TASK_SOFT_TIME_LIMIT,
    "time_limit": settings.IMPORT_TASK_SOFT_TIME_LIMIT + 30,
}


@shared_task(
    name="crmApp.import_tasks.import_job_plan",
    **{
        **RETRYING,
        "soft_time_limit": settings.IMPORT_TASK_SOFT_TIME_LIMIT,
        "time_limit": settings.IMPORT_TASK_SOFT_TIME_LIMIT + 30,
    },
)
def import_job_plan(job_id: int) -> int:
    """Cut an import's file into chunks and hand each to the `imports` queue (any worker)."""
    chunk_ids = import_plan(job_id)
    for chunk_id in chunk_ids:
        publish(import_chunk_run, chunk_id, queue="imports")
    return len(chunk_ids)


@shared_task(name="crmApp.import_tasks.import_chunk_run", **CHUNK_TASK)
def import_chunk_run(chunk_id: int) -> str:
    """Import one chunk's rows, batch by batch; a no-op once the chunk is done or the job ended."""
    return import_chunk(chunk_id)
