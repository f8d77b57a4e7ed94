"""`/api/imports/`: CSV import jobs, run by the import tasks (in-process after the commit here;
tests/test_events_workers.py-style real workers in tests/test_import_workers.py)."""

import csv
import io
import json

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import AuditEvent, Customer, Event, ImportJob, ImportRowError, Lead
from crmApp.services import imports as import_services
from tests.conftest import make_member
from tests.factories import EmployeeFactory, LeadFactory
from tests.files_support import upload
from tests.world import database_snapshot

pytestmark = pytest.mark.django_db

URL = "/api/imports/"


def start(member, content: bytes, *, capture, name="leads.csv", **fields):
    body = {"file": upload(content, name, "text/csv"), "resource": "leads", **fields}
    if isinstance(body.get("mapping"), dict):
        body["mapping"] = json.dumps(body["mapping"])
    with capture(execute=True):
        response = member.client.post(URL, body, format="multipart")
    return response


def job_of(response) -> ImportJob:
    return ImportJob.objects.get(pk=response.data["id"])


LEADS = b"name,email,lead_score\nAda,ada@example.com,10\nBob,bob@example.com,20\n"


def test_import_creates_leads_and_reports_progress(owner, org, django_capture_on_commit_callbacks):
    response = start(owner, LEADS, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.data
    assert response.data["status"] == "pending"
    job = job_of(response)
    detail = owner.client.get(f"{URL}{job.pk}/").data
    assert {k: detail[k] for k in ("status", "rows_total", "rows_read", "rows_created")} == {
        "status": "completed",
        "rows_total": 2,
        "rows_read": 2,
        "rows_created": 2,
    }
    assert (detail["rows_updated"], detail["rows_failed"], detail["rows_unchanged"]) == (0, 0, 0)
    leads = Lead.objects.filter(organization=org).order_by("name")
    assert [(lead.name, lead.email, lead.lead_score) for lead in leads] == [
        ("Ada", "ada@example.com", 10),
        ("Bob", "bob@example.com", 20),
    ]
    assert all(lead.code.startswith("LEAD-") for lead in leads)
    assert Event.objects.filter(organization=org, type="lead.created").count() == 2


@pytest.mark.parametrize(
    ("content", "encoding", "delimiter"),
    [
        ("name;email\nJosé;jose@example.com\n".encode(), "utf-8", ";"),
        (b"\xef\xbb\xbfname,email\nJos\xc3\xa9,jose@example.com\n", "utf-8-sig", ","),
        ("name;email\nJosé;jose@example.com\n".encode("latin-1"), "latin-1", ";"),
    ],
)
def test_encodings_and_delimiters_are_detected(
    owner, org, django_capture_on_commit_callbacks, content, encoding, delimiter
):
    response = start(owner, content, capture=django_capture_on_commit_callbacks)
    assert (response.data["encoding"], response.data["delimiter"]) == (encoding, delimiter)
    assert list(Lead.objects.values_list("name", "email")) == [("José", "jose@example.com")]


def test_mapping_names_columns_and_fields(owner, org, django_capture_on_commit_callbacks):
    content = b"Full name,E-mail,Firm\nAda,ada@example.com,Engines\n"
    mapping = {"Full name": "name", "E-mail": "email", "Firm": "company"}
    response = start(owner, content, capture=django_capture_on_commit_callbacks, mapping=mapping)
    assert response.status_code == 202
    assert list(Lead.objects.values_list("name", "email", "company")) == [
        ("Ada", "ada@example.com", "Engines")
    ]


@pytest.mark.parametrize(
    ("mapping", "errors"),
    [
        ({"Nope": "name", "email": "email"}, ["Column 'Nope' is not in the file's header."]),
        (
            {"name": "name", "email": "email", "lead_score": "is_converted"},
            ["'is_converted' is not a field of leads that can be imported."],
        ),
        ({"name": "name"}, ["Required field 'email' is not mapped."]),
        (
            {"name": "name", "email": "email", "lead_score": "name"},
            ["Field 'name' is mapped from more than one column."],
        ),
    ],
)
def test_mapping_errors_are_400_and_write_nothing(
    owner, org, django_capture_on_commit_callbacks, mapping, errors
):
    before = database_snapshot()
    response = start(owner, LEADS, capture=django_capture_on_commit_callbacks, mapping=mapping)
    assert response.status_code == 400
    assert response.data["details"] == {"mapping": errors}
    assert database_snapshot() == before


def test_dry_run_validates_everything_and_writes_nothing(
    owner, org, django_capture_on_commit_callbacks
):
    content = LEADS + b"Bad,not-an-email,5\n"
    response = start(owner, content, capture=django_capture_on_commit_callbacks, dry_run="true")
    job = job_of(response)
    assert (job.status, job.rows_created, job.rows_failed, job.dry_run) == ("completed", 2, 1, True)
    assert not Lead.objects.exists()
    assert not Event.objects.filter(type__startswith="lead.").exists()


def test_upsert_twice_changes_nothing_the_second_time(
    owner, org, django_capture_on_commit_callbacks
):
    existing = LeadFactory(organization=org, email="ADA@example.com", name="Old", lead_score=1)
    fields = {"mode": "upsert", "match_on": "email"}
    first = job_of(start(owner, LEADS, capture=django_capture_on_commit_callbacks, **fields))
    assert (first.rows_created, first.rows_updated, first.rows_unchanged) == (1, 1, 0)
    existing.refresh_from_db()
    assert (existing.name, existing.email, existing.lead_score) == ("Ada", "ada@example.com", 10)
    snapshot = database_snapshot()
    second = job_of(start(owner, LEADS, capture=django_capture_on_commit_callbacks, **fields))
    assert (second.rows_created, second.rows_updated, second.rows_unchanged) == (0, 0, 2)
    after = database_snapshot()
    for label in ("crmApp.Lead", "crmApp.Event", "crmApp.Customer"):
        assert after[label] == snapshot[label]


def test_upsert_on_external_id(owner, org, django_capture_on_commit_callbacks):
    LeadFactory(organization=org, external_id="x-1", name="Old", email="old@example.com")
    content = b"external_id,name,email\nx-1,New,new@example.com\nx-2,Two,two@example.com\n"
    job = job_of(start(owner, content, capture=django_capture_on_commit_callbacks, mode="upsert"))
    assert (job.rows_created, job.rows_updated) == (1, 1)
    assert sorted(Lead.objects.values_list("external_id", "name")) == [
        ("x-1", "New"),
        ("x-2", "Two"),
    ]


def test_rows_pass_the_api_validation_and_tenant_checks(
    owner, org, other_org, django_capture_on_commit_callbacks
):
    ours = EmployeeFactory(organization=org)
    theirs = EmployeeFactory(organization=other_org)
    content = (
        "name,email,lead_score,assigned_to_id\n"
        f"Ok,ok@example.com,-0,{ours.pk}\n"
        f"Foreign,f@example.com,5,{theirs.pk}\n"
        "Neg,neg@example.com,-5,\n"
        "Mail,nope,5,\n"
    ).encode()
    job = job_of(start(owner, content, capture=django_capture_on_commit_callbacks))
    assert (job.rows_created, job.rows_failed) == (1, 3)
    assert Lead.objects.get().assigned_to_id == ours.pk
    reasons = list(
        ImportRowError.objects.order_by("row_number").values_list("row_number", "reason")
    )
    assert reasons == [
        (3, f'assigned_to_id: Invalid pk "{theirs.pk}" - object does not exist.'),
        (4, "lead_score: Ensure this value is greater than or equal to 0."),
        (5, "email: Enter a valid email address."),
    ]
    errors = owner.client.get(f"{URL}{job.pk}/errors/")
    assert errors["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(errors.streaming_content).decode())))
    assert rows[0] == ["row", "reason", "name", "email", "lead_score", "assigned_to_id"]
    assert rows[2] == [
        "4",
        "lead_score: Ensure this value is greater than or equal to 0.",
        "Neg",
        "neg@example.com",
        "'-5",
        "",
    ]


def test_formula_cells_are_stored_as_text_and_numbers_stay_numbers(
    owner, org, django_capture_on_commit_callbacks
):
    content = (
        b'name,email,estimated_value,notes\n"=HYPERLINK(""http://x"")",a@example.com,-0,@SUM(A1)\n'
        b"'=quoted,b@example.com,+12.5,'-1\n"
    )
    job = job_of(start(owner, content, capture=django_capture_on_commit_callbacks))
    assert (job.rows_created, job.rows_failed) == (2, 0), list(ImportRowError.objects.values())
    first, second = Lead.objects.order_by("email")
    assert (first.name, first.notes) == ('=HYPERLINK("http://x")', "@SUM(A1)")
    assert (second.name, str(second.estimated_value), second.notes) == ("=quoted", "12.50", "-1")
    exported = owner.client.get("/api/leads/export_csv/")
    assert b"'=HYPERLINK" in b"".join(exported.streaming_content)


def test_imported_rows_record_the_events_and_audit_rows_a_request_would(
    owner, org, django_capture_on_commit_callbacks
):
    """The bulk path (one INSERT per batch for events and for audit rows) records what
    `POST /api/leads/` and `PATCH` record for the same values, request by request."""
    values = {
        "name": 'Ada "the first" \\ Lovelace',
        "email": "ada@example.com",
        "company": "Engines, Ltd",
        "lead_score": "42",
        "estimated_value": "1234.50",
        "tags": ["a, b", "c"],
        "notes": "=SUM(A1)",
        "external_id": "imp-1",
    }
    with django_capture_on_commit_callbacks(execute=True):
        posted = owner.client.post("/api/leads/", values, format="json")
    assert posted.status_code == 201, posted.data
    csv_values = {**values, "external_id": "imp-2", "tags": json.dumps(values["tags"])}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(csv_values))
    writer.writeheader()
    writer.writerow(csv_values)
    job = job_of(
        start(owner, buffer.getvalue().encode(), capture=django_capture_on_commit_callbacks)
    )
    assert job.rows_created == 1, list(ImportRowError.objects.values())
    by_request = Lead.objects.get(external_id="imp-1")
    imported = Lead.objects.get(external_id="imp-2")

    differ = {"id", "code", "external_id", "created_at", "updated_at"}

    def event_of(lead, type):
        event = Event.objects.get(resource_id=lead.pk, type=type)
        fields = ("organization_id", "resource", "actor_id")
        snapshot = {k: v for k, v in event.snapshot.items() if k not in differ}
        return [getattr(event, f) for f in fields], snapshot

    def audit_of(lead, action):
        row = AuditEvent.objects.get(resource="lead", record_id=lead.pk, action=action)
        changes = {k: v for k, v in row.changes.items() if k not in differ}
        return [row.organization_id, row.actor_id], changes

    assert event_of(imported, "lead.created") == event_of(by_request, "lead.created")
    assert audit_of(imported, "created") == audit_of(by_request, "created")
    assert event_of(imported, "lead.created")[1]["name"] == 'Ada "the first" \\ Lovelace'

    changed = {"name": "Ada", "company": "Analytical", "estimated_value": "99.00"}
    with django_capture_on_commit_callbacks(execute=True):
        patched = owner.client.patch(f"/api/leads/{by_request.pk}/", changed, format="json")
    assert patched.status_code == 200, patched.data
    content = b"external_id,name,email,company,estimated_value\n"
    content += b"imp-2,Ada,ada@example.com,Analytical,99.00\n"
    upsert = job_of(
        start(owner, content, capture=django_capture_on_commit_callbacks, mode="upsert")
    )
    assert upsert.rows_updated == 1, list(ImportRowError.objects.values())
    assert event_of(imported, "lead.updated") == event_of(by_request, "lead.updated")
    assert audit_of(imported, "updated") == audit_of(by_request, "updated")
    assert set(audit_of(imported, "updated")[1]) == {"name", "company", "estimated_value"}


def test_customers_import(owner, org, django_capture_on_commit_callbacks):
    content = b'name,email,customer_type,tags\nAcme,acme@example.com,business,"vip, eu"\n'
    job = job_of(
        start(owner, content, capture=django_capture_on_commit_callbacks, resource="customers")
    )
    assert job.rows_created == 1
    assert list(Customer.objects.values_list("name", "customer_type", "tags")) == [
        ("Acme", "business", ["vip", "eu"])
    ]


def test_row_and_size_limits(owner, org, settings, django_capture_on_commit_callbacks):
    settings.IMPORT_MAX_ROWS = 1
    job = job_of(start(owner, LEADS, capture=django_capture_on_commit_callbacks))
    assert (job.status, job.error) == ("failed", "The file has more than 1 data rows.")
    assert not Lead.objects.exists()
    settings.IMPORT_MAX_BYTES = 10
    before = database_snapshot()
    response = start(owner, LEADS, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 413
    assert database_snapshot() == before


def test_batches_and_chunks_cover_every_row(
    owner, org, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_BATCH_SIZE = 2
    settings.IMPORT_CHUNK_ROWS = 3
    lines = ["name,email"] + [f'"Lead\n{i}",l{i}@example.com' for i in range(7)]
    job = job_of(
        start(owner, "\n".join(lines).encode(), capture=django_capture_on_commit_callbacks)
    )
    assert (job.status, job.chunks_total, job.chunks_done, job.rows_created) == (
        "completed",
        3,
        3,
        7,
    )
    assert sorted(Lead.objects.values_list("email", flat=True)) == sorted(
        f"l{i}@example.com" for i in range(7)
    )


def test_cancel(owner, org):
    job = ImportJob.objects.create(
        organization=org,
        resource="leads",
        file_name="a.csv",
        blob_name="x",
        encoding="utf-8",
        delimiter=",",
    )
    response = owner.client.post(f"{URL}{job.pk}/cancel/")
    assert response.status_code == 200
    assert response.data["status"] == "cancelled"
    again = owner.client.post(f"{URL}{job.pk}/cancel/")
    assert again.status_code == 400


def test_imports_are_visible_to_their_organization_only(
    owner, org, other_org, django_capture_on_commit_callbacks
):
    other = make_member(other_org, owner=True)
    theirs = job_of(start(other, LEADS, capture=django_capture_on_commit_callbacks))
    before = database_snapshot()
    for response in (
        owner.client.get(f"{URL}{theirs.pk}/"),
        owner.client.get(f"{URL}{theirs.pk}/errors/"),
        owner.client.post(f"{URL}{theirs.pk}/cancel/"),
    ):
        assert response.status_code == 404
    assert owner.client.get(URL).data["results"] == []
    assert database_snapshot() == before


def test_permissions_on_the_target_resource(
    org, sales, manager, viewer, django_capture_on_commit_callbacks
):
    before = database_snapshot()
    assert start(sales, LEADS, capture=django_capture_on_commit_callbacks).status_code == 403
    assert start(viewer, LEADS, capture=django_capture_on_commit_callbacks).status_code == 403
    assert database_snapshot() == before
    response = start(manager, LEADS, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured)


def test_reads_take_a_constant_number_of_queries(owner, org, django_capture_on_commit_callbacks):
    job = job_of(start(owner, LEADS + b"x,bad,1\n", capture=django_capture_on_commit_callbacks))
    one = _queries(owner.client, URL)
    for _ in range(3):
        start(owner, LEADS, capture=django_capture_on_commit_callbacks)
    assert _queries(owner.client, URL) == one == 3  # session with access, count, page
    assert _queries(owner.client, f"{URL}{job.pk}/") == 2  # session with access, the row
    assert _queries(owner.client, f"{URL}{job.pk}/errors/") == 3  # session+access, job, rows


def test_a_chunk_delivered_again_resumes_after_its_last_committed_batch(
    owner, org, settings, django_capture_on_commit_callbacks
):
    from crmApp.importing import import_chunk, import_plan
    from crmApp.models import ImportChunk

    settings.IMPORT_BATCH_SIZE = 2
    content = b"name,email\n" + b"".join(b"L%d,l%d@example.com\n" % (i, i) for i in range(5))
    body = {"file": upload(content, "leads.csv", "text/csv"), "resource": "leads"}
    job_id = owner.client.post(URL, body, format="multipart").data["id"]  # not run: no commit
    (chunk_id,) = import_plan(job_id)
    # A worker that died after the first batch: two rows are committed, three are left.
    ImportChunk.objects.filter(pk=chunk_id).update(rows_done=2)
    assert import_chunk(chunk_id) == "done"
    assert sorted(Lead.objects.values_list("name", flat=True)) == ["L2", "L3", "L4"]
    assert import_chunk(chunk_id) == "skipped"  # delivered once more: nothing left to do
    job = ImportJob.objects.get(pk=job_id)
    assert (job.status, job.rows_created, job.chunks_done) == ("completed", 3, 1)


def test_a_creator_who_loses_the_permission_stops_the_job(owner, org, manager):
    from crmApp.importing import import_chunk, import_plan
    from crmApp.models import UserRole

    body = {"file": upload(LEADS, "leads.csv", "text/csv"), "resource": "leads"}
    job_id = manager.client.post(URL, body, format="multipart").data["id"]
    (chunk_id,) = import_plan(job_id)
    UserRole.objects.filter(user=manager.user).delete()
    assert import_chunk(chunk_id) == "failed"
    job = ImportJob.objects.get(pk=job_id)
    assert (job.status, job.error) == (
        "failed",
        "The user who started this import may no longer write leads here.",
    )
    assert not Lead.objects.exists()


def test_upsert_never_touches_another_organizations_record(
    owner, org, other_org, django_capture_on_commit_callbacks
):
    theirs = LeadFactory(organization=other_org, external_id="x-1", name="Theirs")
    content = b"external_id,name,email\nx-1,Ours,ours@example.com\n"
    job = job_of(start(owner, content, capture=django_capture_on_commit_callbacks, mode="upsert"))
    assert (job.rows_created, job.rows_updated) == (1, 0)
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert Lead.objects.get(organization=org).name == "Ours"


def test_a_job_whose_file_is_gone_fails_with_a_reason(owner, org):
    from crmApp.importing import import_plan

    job = ImportJob.objects.create(
        organization=org,
        resource="leads",
        file_name="a.csv",
        blob_name="imports/missing",
        encoding="utf-8",
        delimiter=",",
    )
    assert import_plan(job.pk) == []
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "The uploaded file is no longer available.")


def test_a_create_batch_reserves_its_codes_before_it_writes(
    owner, org, django_capture_on_commit_callbacks
):
    """The counter's statement ends its own (sub)transaction before the batch's INSERT, so the
    organization's counter row is not held while the rows are written; codes run on."""
    LeadFactory(organization=org)  # LEAD-000001 through a single create

    with CaptureQueriesContext(connection) as ctx:
        response = start(owner, LEADS, capture=django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.data
    statements = [query["sql"] for query in ctx.captured_queries]
    counter = next(i for i, sql in enumerate(statements) if "code_sequences" in sql)
    insert = next(i for i, sql in enumerate(statements) if sql.startswith('INSERT INTO "leads"'))
    assert counter < insert
    assert any(sql.startswith("RELEASE SAVEPOINT") for sql in statements[counter:insert])
    codes = sorted(Lead.objects.filter(organization=org).values_list("code", flat=True))
    assert codes == ["LEAD-000001", "LEAD-000002", "LEAD-000003"]


def test_a_batch_retried_after_a_lost_race_leaves_its_first_codes_unused(
    owner, org, monkeypatch, django_capture_on_commit_callbacks
):
    """A batch whose write fails after its codes were reserved (here: one lost unique race,
    then the retry) takes fresh codes; the first ones stay unused, as a sequence's would."""
    commit = import_services.import_batch_commit
    failures = []

    def lose_the_first_race(**kwargs):
        if not failures:
            failures.append(kwargs["codes"])
            raise IntegrityError("lost a race with another chunk")
        return commit(**kwargs)

    monkeypatch.setattr(import_services, "import_batch_commit", lose_the_first_race)

    response = start(owner, LEADS, capture=django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.data
    assert job_of(response).status == ImportJob.Status.COMPLETED
    assert failures == [["LEAD-000001", "LEAD-000002"]]
    codes = sorted(Lead.objects.filter(organization=org).values_list("code", flat=True))
    assert codes == ["LEAD-000003", "LEAD-000004"]
