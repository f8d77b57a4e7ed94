"""Plain creates, updates and deletes record their events through the one write path."""

import pytest

from crmApp.models import Customer, Event
from tests.factories import CustomerFactory, EmployeeFactory, LeadFactory, VendorFactory

pytestmark = pytest.mark.django_db


def events_of(resource: str, resource_id: int) -> list[str]:
    return list(
        Event.objects.filter(resource=resource, resource_id=resource_id)
        .order_by("id")
        .values_list("type", flat=True)
    )


@pytest.mark.parametrize(
    ("url", "resource", "body", "change"),
    [
        (
            "/api/customers/",
            "customer",
            {"name": "Ada", "email": "ada@example.com"},
            {"name": "Ada L."},
        ),
        ("/api/leads/", "lead", {"name": "Bo", "email": "bo@example.com"}, {"name": "Bo K."}),
        (
            "/api/employees/",
            "employee",
            {"first_name": "Cy", "last_name": "D", "email": "cy@example.com"},
            {"first_name": "Cyril"},
        ),
        (
            "/api/vendors/",
            "vendor",
            {"name": "Acme Parts", "email": "parts@example.com"},
            {"name": "Acme Parts Ltd"},
        ),
    ],
)
def test_create_update_delete_record_their_events(owner, org, url, resource, body, change):
    created = owner.client.post(url, body, format="json")
    assert created.status_code == 201, created.data
    pk = created.data["id"]
    assert owner.client.patch(f"{url}{pk}/", change, format="json").status_code == 200
    assert owner.client.delete(f"{url}{pk}/").status_code == 204

    assert events_of(resource, pk) == [
        f"{resource}.created",
        f"{resource}.updated",
        f"{resource}.deleted",
    ]
    created_event = Event.objects.get(type=f"{resource}.created", resource_id=pk)
    assert created_event.organization_id == org.pk
    assert created_event.actor_id == owner.user.pk
    deleted = Event.objects.get(type=f"{resource}.deleted", resource_id=pk)
    assert deleted.snapshot["id"] == pk  # the last snapshot survives the row


def test_bulk_update_and_delete_record_one_event_per_row(owner, org):
    customers = CustomerFactory.create_batch(3, organization=org)
    ids = [customer.pk for customer in customers]
    response = owner.client.post(
        "/api/customers/bulk_update/", {"ids": ids, "data": {"industry": "x"}}, format="json"
    )
    assert response.status_code == 200
    response = owner.client.post("/api/customers/bulk_delete/", {"ids": ids}, format="json")
    assert response.status_code == 200 and response.data["count"] == 3

    for pk in ids:
        assert events_of("customer", pk) == ["customer.updated", "customer.deleted"]
    assert not Customer.objects.filter(pk__in=ids).exists()


def test_a_refused_bulk_delete_records_nothing(viewer, org):
    customers = CustomerFactory.create_batch(2, organization=org)
    response = viewer.client.post(
        "/api/customers/bulk_delete/", {"ids": [c.pk for c in customers]}, format="json"
    )
    assert response.status_code == 403
    assert not Event.objects.filter(resource="customer").exists()


def test_converting_a_lead_records_the_new_customer_too(owner, org):
    lead = LeadFactory(organization=org)
    response = owner.client.post(f"/api/leads/{lead.pk}/convert/", {}, format="json")
    assert response.status_code == 201, response.data
    customer_id = response.data["customer_id"]

    assert events_of("customer", customer_id) == ["customer.created"]
    converted = Event.objects.get(type="lead.converted", resource_id=lead.pk)
    assert converted.snapshot["customer_id"] == customer_id


def test_models_without_an_event_resource_record_nothing(owner, org):
    EmployeeFactory(organization=org)
    VendorFactory(organization=org)  # factories write rows directly: no service, no event
    response = owner.client.post("/api/pipelines/", {"name": "New"}, format="json")
    assert response.status_code == 201
    assert Event.objects.count() == 0
