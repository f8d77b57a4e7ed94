"""`/api/attachments/`: uploads checked by their bytes, downloads through the API, RBAC of the
parent record, quota and size limits, blobs removed only after a committed deletion."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crmApp.models import Attachment, Permission, Role, RolePermission, UserRole
from crmApp.services.attachments import attachment_delete
from crmApp.services.blobs import files_storage
from tests.conftest import make_member
from tests.factories import CustomerFactory, DealFactory, LeadFactory
from tests.files_support import EXECUTABLE, PDF, ooxml, plain_zip, png, upload
from tests.world import database_snapshot

pytestmark = pytest.mark.django_db

URL = "/api/attachments/"


def post_file(member, parent, content: bytes, name: str, **extra):
    kind = type(parent)._meta.model_name
    body = {"file": upload(content, name, extra.pop("content_type", "application/pdf"))}
    body.update(parent_type=kind, parent_id=parent.pk, **extra)
    return member.client.post(URL, body, format="multipart")


def blob_exists(attachment_or_name) -> bool:
    name = getattr(attachment_or_name, "blob_name", attachment_or_name)
    return files_storage().exists(name)


def test_a_pdf_is_stored_on_its_customer_with_the_type_read_from_its_bytes(owner, org):
    customer = CustomerFactory(organization=org)
    response = post_file(owner, customer, PDF, "Contract 2026.pdf", content_type="image/png")
    assert response.status_code == 201, response.data
    attachment = Attachment.objects.get()
    assert response.data == {
        "id": attachment.pk,
        "organization": org.pk,
        "parent_type": "customer",
        "parent_id": customer.pk,
        "name": "Contract 2026.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": attachment.sha256,
        "uploaded_by": owner.user.pk,
        "created_at": response.data["created_at"],
    }
    assert attachment.customer_id == customer.pk and attachment.lead_id is None
    assert files_storage().open(attachment.blob_name).read() == PDF
    assert str(org.pk) in attachment.blob_name and "Contract" not in attachment.blob_name


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (png(), "photo.png", "image/png"),
        (ooxml("word/document.xml"), "offer.docx", ooxml_type := None),
    ],
)
def test_detected_types(owner, org, content, name, expected):
    lead = LeadFactory(organization=org)
    response = post_file(owner, lead, content, name)
    assert response.status_code == 201, response.data
    if expected is None:
        expected = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert response.data["content_type"] == expected


def test_office_documents_are_told_apart_by_their_inner_structure(owner, org):
    deal = DealFactory(organization=org)
    xlsx = post_file(owner, deal, ooxml("xl/workbook.xml"), "sheet.docx")
    pptx = post_file(owner, deal, ooxml("ppt/presentation.xml"), "deck.bin")
    assert xlsx.data["content_type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert pptx.data["content_type"] == (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    )


def test_text_and_csv(owner, org):
    customer = CustomerFactory(organization=org)
    text = post_file(owner, customer, "Grüße\nline two\n".encode(), "notes.txt")
    table = post_file(owner, customer, b"name,email\na,a@example.com\n", "list.CSV")
    assert (text.data["content_type"], table.data["content_type"]) == ("text/plain", "text/csv")


@pytest.mark.parametrize(
    ("content", "name", "content_type", "message"),
    [
        (EXECUTABLE, "invoice.pdf", "application/pdf", "could not be recognised"),
        (plain_zip(), "report.docx", "application/zip", "could not be recognised"),
        (b"\x00\x01\x02binary", "notes.txt", "text/plain", "could not be recognised"),
        (b"GIF89a" + b"\x00" * 20, "anim.gif", "image/gif", None),
    ],
)
def test_spoofed_or_unknown_types_are_refused(
    owner, org, settings, content, name, content_type, message
):
    settings.ATTACHMENT_ALLOWED_TYPES = ["application/pdf"]
    customer = CustomerFactory(organization=org)
    before = database_snapshot()
    response = post_file(owner, customer, content, name, content_type=content_type)
    assert response.status_code == 400
    detail = response.data["details"]["file"][0]
    assert message in detail if message else detail == "Files of type image/gif are not allowed."
    assert database_snapshot() == before


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\me\\secret plan.pdf", "secret plan.pdf"),
        ("._", "file"),
        ('a<script>"x".pdf', "a_script_x_.pdf"),
        ("x" * 300 + ".pdf", "x" * 146 + ".pdf"),
    ],
)
def test_file_names_are_sanitised(owner, org, raw, stored):
    customer = CustomerFactory(organization=org)
    response = post_file(owner, customer, PDF, raw)
    assert response.status_code == 201, response.data
    assert response.data["name"] == stored


def test_another_organizations_parent_is_a_400_like_a_missing_one(owner, org, other_org):
    theirs = CustomerFactory(organization=other_org)
    before = database_snapshot()
    response = post_file(owner, theirs, PDF, "a.pdf")
    assert response.status_code == 400
    assert response.data["details"] == {
        "parent_id": [f'Invalid pk "{theirs.pk}" - object does not exist.']
    }
    assert database_snapshot() == before


def test_json_bodies_are_refused_with_415(owner, org):
    customer = CustomerFactory(organization=org)
    response = owner.client.post(
        URL, {"parent_type": "customer", "parent_id": customer.pk}, format="json"
    )
    assert response.status_code == 415


def test_download_streams_the_file_as_an_attachment_with_nosniff(owner, org):
    customer = CustomerFactory(organization=org)
    created = post_file(owner, customer, PDF, "Ünïcode offer.pdf").data
    response = owner.client.get(f"{URL}{created['id']}/download/")
    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = "attachment; filename*=utf-8''%C3%9Cn%C3%AFcode%20offer.pdf"
    assert response["Content-Disposition"] == disposition
    plain = post_file(owner, customer, PDF, "offer.pdf").data["id"]
    named = owner.client.get(f"{URL}{plain}/download/")
    assert named["Content-Disposition"] == 'attachment; filename="offer.pdf"'


def test_another_organizations_attachment_is_a_404_and_untouched(owner, other_org):
    other = make_member(other_org, owner=True)
    theirs = post_file(other, CustomerFactory(organization=other_org), PDF, "t.pdf").data["id"]
    attachment = Attachment.objects.get(pk=theirs)
    before = database_snapshot()
    for response in (
        owner.client.get(f"{URL}{theirs}/"),
        owner.client.get(f"{URL}{theirs}/download/"),
        owner.client.delete(f"{URL}{theirs}/"),
    ):
        assert response.status_code == 404
    assert owner.client.get(URL).data["results"] == []
    assert database_snapshot() == before
    assert blob_exists(attachment)


def test_size_limit_and_quota_are_413_and_write_nothing(owner, org, settings):
    customer = CustomerFactory(organization=org)
    settings.ATTACHMENT_MAX_BYTES = len(PDF) - 1
    before = database_snapshot()
    too_big = post_file(owner, customer, PDF, "a.pdf")
    assert too_big.status_code == 413
    assert (
        too_big.data["error"]
        == f"The file is larger than the {len(PDF) - 1} bytes an attachment may have."
    )
    settings.ATTACHMENT_MAX_BYTES = 10**6
    settings.ATTACHMENT_ORG_QUOTA_BYTES = len(PDF) * 2
    assert post_file(owner, customer, PDF, "a.pdf").status_code == 201
    assert post_file(owner, customer, PDF, "b.pdf").status_code == 201
    snapshot = database_snapshot()
    over = post_file(owner, customer, PDF, "c.pdf")
    assert over.status_code == 413
    assert over.data["error"] == (
        f"This file would exceed the organization's attachment quota ({len(PDF) * 2} bytes)."
    )
    assert database_snapshot() == snapshot
    assert Attachment.objects.count() == 2
    assert before != snapshot


def test_rbac_follows_the_parent_record(org, owner):
    customer = CustomerFactory(organization=org)
    deal = DealFactory(organization=org)
    on_customer = post_file(owner, customer, PDF, "c.pdf").data["id"]
    on_deal = post_file(owner, deal, PDF, "d.pdf").data["id"]
    # A custom role that reads deals only: it sees the deal's attachment, not the customer's.
    role = Role.objects.create(organization=org, name="Deals reader", slug="deals-reader")
    RolePermission.objects.create(
        role=role,
        permission=Permission.objects.get(organization=org, resource="deals", action="view"),
    )
    reader = make_member(org)
    UserRole.objects.create(user=reader.user, role=role, organization=org)
    listed = reader.client.get(URL)
    assert [row["id"] for row in listed.data["results"]] == [on_deal]
    assert reader.client.get(f"{URL}{on_customer}/download/").status_code == 404
    assert reader.client.get(f"{URL}{on_deal}/download/").status_code == 200
    # Reading a deal is not updating it: no upload, no delete.
    before = database_snapshot()
    assert post_file(reader, deal, PDF, "x.pdf").status_code == 403
    assert reader.client.delete(f"{URL}{on_deal}/").status_code == 403
    assert database_snapshot() == before


def test_viewer_reads_sales_writes(org, owner, viewer, sales):
    customer = CustomerFactory(organization=org)
    before = database_snapshot()
    assert post_file(viewer, customer, PDF, "v.pdf").status_code == 403
    assert database_snapshot() == before
    created = post_file(sales, customer, PDF, "s.pdf")
    assert created.status_code == 201
    assert viewer.client.get(f"{URL}{created.data['id']}/").status_code == 200
    assert viewer.client.delete(f"{URL}{created.data['id']}/").status_code == 403


def test_list_filters_by_parent(owner, org):
    customer = CustomerFactory(organization=org)
    lead = LeadFactory(organization=org)
    first = post_file(owner, customer, PDF, "a.pdf").data["id"]
    post_file(owner, lead, PDF, "b.pdf")
    response = owner.client.get(URL, {"parent_type": "customer", "parent_id": customer.pk})
    assert [row["id"] for row in response.data["results"]] == [first]
    assert owner.client.get(URL, {"unknown": "1"}).status_code == 400


def test_deleting_removes_the_blob_only_after_commit(
    owner, org, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(organization=org)
    attachment = Attachment.objects.get(pk=post_file(owner, customer, PDF, "a.pdf").data["id"])
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner.client.delete(f"{URL}{attachment.pk}/")
        assert response.status_code == 204
        assert blob_exists(attachment)  # not committed yet
    for callback in callbacks:
        callback()
    assert not blob_exists(attachment)
    assert not Attachment.objects.exists()


def test_a_rolled_back_deletion_keeps_the_blob(owner, org, django_capture_on_commit_callbacks):
    customer = CustomerFactory(organization=org)
    attachment = Attachment.objects.get(pk=post_file(owner, customer, PDF, "a.pdf").data["id"])
    pk, blob_name = attachment.pk, attachment.blob_name
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        attachment_delete(attachment=attachment, actor=owner.user)
        transaction.set_rollback(True)
    assert callbacks == []
    assert blob_exists(blob_name)
    assert Attachment.objects.filter(pk=pk).exists()


def test_deleting_the_parent_removes_its_blobs_after_commit(
    owner, org, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(organization=org)
    attachment = Attachment.objects.get(pk=post_file(owner, customer, PDF, "a.pdf").data["id"])
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.client.delete(f"/api/customers/{customer.pk}/").status_code == 204
    assert not Attachment.objects.exists()
    assert not blob_exists(attachment)


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    return len(captured)


def test_reads_take_a_constant_number_of_queries(owner, org):
    customer = CustomerFactory(organization=org)
    first = post_file(owner, customer, PDF, "a.pdf").data["id"]
    one = _queries(owner.client, URL)
    for index in range(4):
        post_file(owner, LeadFactory(organization=org), PDF, f"{index}.pdf")
    assert _queries(owner.client, URL) == one == 3  # session with access, count, page
    assert _queries(owner.client, f"{URL}{first}/") == 2  # session with access, the row
    assert _queries(owner.client, f"{URL}{first}/download/") == 2  # session with access, the row
