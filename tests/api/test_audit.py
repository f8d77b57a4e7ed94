"""The audit log: what each write records, in its transaction, and who may read it."""

import datetime as dt

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmApp.models import AuditEvent, Customer, Permission, Role, WebhookEndpoint
from crmApp.services.audit import SECRET_NAME, audit_purge, audited_fields
from tests.factories import CustomerFactory, DealFactory, VendorFactory

pytestmark = pytest.mark.django_db

URL = "/api/audit-events/"


def _audit_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if "audit_events" in q["sql"]]


def test_an_update_records_who_when_the_request_and_the_changed_fields(manager, org):
    customer = CustomerFactory(organization=org, name="Old name", industry="Retail")

    response = manager.client.patch(
        f"/api/customers/{customer.pk}/",
        {"name": "New name", "industry": "Retail"},
        format="json",
        HTTP_X_REQUEST_ID="req-audit-1",
    )

    assert response.status_code == 200, response.data
    row = AuditEvent.objects.get()
    assert (row.organization_id, row.resource, row.record_id, row.action) == (
        org.pk,
        "customer",
        customer.pk,
        "updated",
    )
    assert (row.actor_id, row.request_id) == (manager.user.pk, "req-audit-1")
    assert row.changes == {"name": {"old": "Old name", "new": "New name"}}


def test_create_records_new_values_and_delete_the_old_ones(manager, org):
    created = manager.client.post(
        "/api/vendors/", {"name": "Acme", "email": "a@acme.example"}, format="json"
    )
    deleted = manager.client.delete(f"/api/vendors/{created.data['id']}/")

    assert (created.status_code, deleted.status_code) == (201, 204)
    create, delete = AuditEvent.objects.order_by("id")
    assert (create.action, delete.action) == ("created", "deleted")
    assert create.changes["name"] == {"old": None, "new": "Acme"}
    assert create.changes["code"] == {"old": None, "new": "VEN-000001"}
    assert delete.changes["name"] == {"old": "Acme", "new": None}
    assert "updated_at" not in create.changes and "id" not in create.changes


def test_the_audit_adds_exactly_one_insert_per_write(manager, org, is_postgres):
    vendor = VendorFactory(organization=org)

    with CaptureQueriesContext(connection) as ctx:
        response = manager.client.patch(f"/api/vendors/{vendor.pk}/", {"name": "X"}, format="json")

    assert response.status_code == 200
    statements = _audit_statements(ctx.captured_queries)
    assert len(statements) == 1
    if is_postgres:
        # the audit INSERT rides in the event's statement: no round trip of its own
        assert statements[0].startswith("WITH") and statements[0].count("INSERT INTO") == 2
        assert '"events"' in statements[0]
    else:
        assert statements[0].startswith("INSERT INTO")
    # savepoint, session with access, row, UPDATE, audit INSERT and event INSERT (one
    # statement on PostgreSQL), the answer's read, release
    assert len(ctx.captured_queries) == (7 if is_postgres else 8)


def test_a_bulk_delete_audits_every_row_in_one_insert(manager, org):
    doomed = CustomerFactory.create_batch(4, organization=org)

    with CaptureQueriesContext(connection) as ctx:
        response = manager.client.post(
            "/api/customers/bulk_delete/", {"ids": [c.pk for c in doomed]}, format="json"
        )

    assert response.status_code == 200, response.data
    statements = _audit_statements(ctx.captured_queries)
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO")
    rows = AuditEvent.objects.order_by("record_id")
    assert [(r.action, r.record_id) for r in rows] == [("deleted", c.pk) for c in doomed]
    assert rows[0].changes["email"] == {"old": doomed[0].email, "new": None}


def test_business_actions_record_their_verb_and_changes(manager, org):
    deal = DealFactory(organization=org)

    response = manager.client.post(f"/api/deals/{deal.pk}/mark_won/")

    assert response.status_code == 200, response.data
    row = AuditEvent.objects.get()
    assert (row.action, row.resource, row.record_id) == ("won", "deal", deal.pk)
    assert row.changes["is_won"] == {"old": False, "new": True}


def test_a_refused_write_leaves_no_audit_row(manager, org):
    deal = DealFactory(organization=org, is_won=True, status="closed")

    response = manager.client.patch(f"/api/deals/{deal.pk}/", {"is_won": False}, format="json")

    assert response.status_code == 400
    assert AuditEvent.objects.count() == 0


def test_role_grants_are_audited_on_the_role(owner, org):
    role = Role.objects.create(organization=org, name="Custom", slug="custom")
    permission = Permission.objects.get(organization=org, resource="customers", action="view")

    granted = owner.client.post(
        f"/api/roles/{role.pk}/assign_permission/", {"permission_id": permission.pk}
    )
    revoked = owner.client.post(
        f"/api/roles/{role.pk}/remove_permission/", {"permission_id": permission.pk}
    )

    assert granted.status_code < 300 and revoked.status_code < 300
    rows = list(AuditEvent.objects.filter(resource="role").order_by("id"))
    assert [(r.action, r.actor_id, r.changes) for r in rows] == [
        (
            "permissions_changed",
            owner.user.pk,
            {"permission_ids": {"old": [], "new": [permission.pk]}},
        ),
        (
            "permissions_changed",
            owner.user.pk,
            {"permission_ids": {"old": [permission.pk], "new": []}},
        ),
    ]


def test_membership_changes_are_audited(owner, org, no_role):
    response = owner.client.post(
        f"/api/organizations/{org.pk}/remove_member/", {"user_id": no_role.user.pk}
    )

    assert response.status_code == 200, response.data
    row = AuditEvent.objects.get(resource="membership")
    assert row.action == "removed"
    assert row.changes["is_active"] == {"old": True, "new": False}


def test_webhook_secrets_are_never_recorded(owner, org):
    created = owner.client.post(
        "/api/webhooks/", {"url": "https://93.184.215.14/hooks/a"}, format="json"
    )
    endpoint = WebhookEndpoint.objects.get()
    rotated = owner.client.post(f"/api/webhooks/{endpoint.pk}/rotate_secret/")

    assert created.status_code == 201 and rotated.status_code == 200
    rows = list(AuditEvent.objects.filter(resource="webhook").order_by("id"))
    assert [r.action for r in rows] == ["created", "secret_rotated"]
    assert "secret" not in rows[0].changes and rows[1].changes == {}
    endpoint.refresh_from_db()
    stored = str(list(AuditEvent.objects.values_list("changes", flat=True)))
    assert endpoint.secret not in stored


def test_no_model_lets_a_secret_field_into_the_audit():
    offending = {
        model._meta.label: [name for name in audited_fields(model) if SECRET_NAME.search(name)]
        for model in apps.get_app_config("crmApp").get_models()
    }
    assert {label: names for label, names in offending.items() if names} == {}
    user_fields = audited_fields(apps.get_model("crmApp", "User"))
    assert "password" not in user_fields and "two_factor_secret" not in user_fields
    assert "secret" not in audited_fields(WebhookEndpoint)
    assert SECRET_NAME.search("refresh_jti") and SECRET_NAME.search("api_key")


# --- the list ----------------------------------------------------------------------------------


def _rows(org, count: int, *, hours_ago: int = 1, **fields) -> list[AuditEvent]:
    start = timezone.now() - dt.timedelta(hours=hours_ago)
    return [
        AuditEvent.objects.create(
            organization=org,
            action=fields.get("action", "updated"),
            resource=fields.get("resource", "customer"),
            record_id=fields.get("record_id", 1),
            actor=fields.get("actor"),
            created_at=start + dt.timedelta(minutes=number),
        )
        for number in range(count)
    ]


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("manager", 403), ("viewer", 403)])
def test_the_list_needs_audit_view(request, org, role, status):
    member = request.getfixturevalue(role)
    _rows(org, 1)

    response = member.client.get(URL)

    assert response.status_code == status


def test_the_list_is_newest_first_cursor_paged_and_filtered(owner, org, other_org, admin):
    older = _rows(org, 3, hours_ago=2, resource="customer", record_id=7)
    newer = _rows(org, 2, resource="deal", record_id=9, action="won", actor=admin.user)
    _rows(other_org, 2)

    page = owner.client.get(URL, {"page_size": 3})
    rest = owner.client.get(page.data["next"])

    assert [r["id"] for r in page.data["results"]] == [newer[1].pk, newer[0].pk, older[2].pk]
    assert [r["id"] for r in rest.data["results"]] == [older[1].pk, older[0].pk]
    assert rest.data["next"] is None

    def ids(**params):
        response = owner.client.get(URL, params)
        assert response.status_code == 200, response.data
        return sorted(r["id"] for r in response.data["results"])

    assert ids(resource="deal") == sorted(r.pk for r in newer)
    assert ids(resource="customer", record_id=7) == sorted(r.pk for r in older)
    assert ids(actor=admin.user.pk) == sorted(r.pk for r in newer)
    assert ids(action="won") == sorted(r.pk for r in newer)
    assert ids(created_before=older[2].created_at.isoformat()) == sorted(r.pk for r in older[:2])
    assert owner.client.get(URL, {"page": 2}).status_code == 400
    first = owner.client.get(URL, {"resource": "deal"}).data["results"][0]
    assert first["actor"]["id"] == admin.user.pk
    assert set(first) == {
        "id",
        "organization",
        "actor",
        "request_id",
        "action",
        "resource",
        "record_id",
        "changes",
        "created_at",
    }


def test_the_list_reads_a_fixed_number_of_queries(owner, org, admin):
    _rows(org, 1, actor=admin.user)
    with CaptureQueriesContext(connection) as one:
        owner.client.get(URL)
    _rows(org, 20, actor=owner.user)
    with CaptureQueriesContext(connection) as many:
        response = owner.client.get(URL)

    assert len(response.data["results"]) == 21
    assert len(one) == len(many) == 2  # session with access, the page with its actors


def test_the_purge_deletes_rows_past_the_retention(settings, org):
    settings.AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    old = AuditEvent.objects.create(
        organization=org,
        action="updated",
        resource="customer",
        record_id=1,
        created_at=now - dt.timedelta(days=31),
    )
    recent = AuditEvent.objects.create(
        organization=org,
        action="updated",
        resource="customer",
        record_id=1,
        created_at=now - dt.timedelta(days=29),
    )

    assert audit_purge(batch=1) == 1
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    settings.AUDIT_RETENTION_DAYS = 0
    recent.created_at = now - dt.timedelta(days=5000)
    recent.save()
    assert audit_purge() == 0
    assert not AuditEvent.objects.filter(pk=old.pk).exists()


def test_customer_status_action_is_audited(manager, org):
    customer = CustomerFactory(organization=org, status="active")

    response = manager.client.post(f"/api/customers/{customer.pk}/deactivate/")

    assert response.status_code == 200
    row = AuditEvent.objects.get()
    assert row.changes == {"status": {"old": "active", "new": "inactive"}}
    assert Customer.objects.get(pk=customer.pk).status == "inactive"
