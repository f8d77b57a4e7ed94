"""Celery tasks of CSV imports, on the `imports` queue.

Apart from crmApp.tasks because they run the API's forms (crmApp/importing.py), which the
services that queue the other tasks must not import; the Celery app discovers this module by
name (crmAdmin/celery.py). Both tasks are idempotent: a job or chunk that is done, cancelled or
failed is left alone, and a chunk resumes after its last committed batch.
"""

from __future__ import annotations

from celery import shared_task

from crmApp.importing import import_chunk, import_plan
from crmApp.tasks import RETRYING, publish


@shared_task(name="crmApp.import_tasks.import_job_plan", **RETRYING)
def import_job_plan(job_id: int) -> int:
    """Cut an import's file into chunks and hand each to the `imports` queue (any worker)."""
    chunk_ids = import_plan(job_id)
    for chunk_id in chunk_ids:
        publish(import_chunk_run, chunk_id, queue="imports")
    return len(chunk_ids)


@shared_task(name="crmApp.import_tasks.import_chunk_run", **RETRYING)
def import_chunk_run(chunk_id: int) -> str:
    """Import one chunk's rows, batch by batch; a no-op once the chunk is done or the job ended."""
    return import_chunk(chunk_id)
