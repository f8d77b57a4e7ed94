"""A CSV import run by two real Celery workers (Redis broker, the test's PostgreSQL database):
the chunks are shared between them and every row is imported exactly once.

Skipped without PostgreSQL or Redis, like the other worker tests (tests/test_events_workers.py,
whose worker starter this module reuses).
"""

import json
import time

import pytest

from crmApp.models import Event, ImportChunk, ImportJob, Lead
from tests.events_support import celery_broker
from tests.files_support import upload
from tests.test_events_workers import broker_url, run_id, workers  # noqa: F401 - fixtures

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROWS = 450
TIMEOUT = 90


@pytest.fixture
def worker_extra_env(_files_in_a_temporary_directory, settings) -> dict[str, str]:
    # The workers read and write the same files as this process, and cut the same chunks.
    return {
        "MEDIA_ROOT": str(_files_in_a_temporary_directory),
        "IMPORT_CHUNK_ROWS": "100",
        "IMPORT_BATCH_SIZE": "40",
    }


def test_two_workers_import_every_row_once(workers, broker_url, run_id, owner, org, settings):  # noqa: F811
    settings.TASK_QUEUE_PREFIX = run_id
    lines = ["Name;E-mail;Score"] + [f"Lead {i};lead{i}@example.com;{i % 100}" for i in range(ROWS)]
    lines[7] = "Broken;not-an-email;5"
    body = {
        "file": upload("\n".join(lines).encode("latin-1"), "leads.csv", "text/csv"),
        "resource": "leads",
        "mapping": json.dumps({"Name": "name", "E-mail": "email", "Score": "lead_score"}),
    }
    with celery_broker(broker_url):
        response = owner.client.post("/api/imports/", body, format="multipart")
        assert response.status_code == 202, response.data
        job_id = response.data["id"]
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            detail = owner.client.get(f"/api/imports/{job_id}/").data
            if detail["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
    assert detail["status"] == "completed", detail
    assert (detail["rows_total"], detail["rows_read"]) == (ROWS, ROWS)
    assert (detail["rows_created"], detail["rows_failed"]) == (ROWS - 1, 1)
    assert Lead.objects.filter(organization=org).count() == ROWS - 1
    assert Lead.objects.values("email").distinct().count() == ROWS - 1
    assert Event.objects.filter(organization=org, type="lead.created").count() == ROWS - 1
    job = ImportJob.objects.get(pk=job_id)
    assert ImportChunk.objects.filter(job=job).count() == 5
    assert all(chunk.done for chunk in ImportChunk.objects.filter(job=job))
    assert list(job.row_errors.values_list("row_number", "reason")) == [
        (8, "email: Enter a valid email address.")
    ]
