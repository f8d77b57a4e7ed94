"""PUT /api/<resource>/external/{external_id}/: create (201) or update (200) by external id."""

import pytest

from crmApp.models import Customer, Deal, Event, Lead
from tests.conftest import make_member
from tests.factories import CustomerFactory, PipelineStageFactory

pytestmark = pytest.mark.django_db


def test_a_customer_is_created_then_updated(owner, org):
    created = owner.client.put(
        "/api/customers/external/crm-1/", {"name": "Ada", "email": "ada@example.com"}, format="json"
    )
    updated = owner.client.put(
        "/api/customers/external/crm-1/",
        {"name": "Ada L.", "email": "ada@example.com"},
        format="json",
    )

    assert created.status_code == 201, created.data
    assert updated.status_code == 200, updated.data
    assert created.data["id"] == updated.data["id"]
    assert (updated.data["external_id"], updated.data["name"]) == ("crm-1", "Ada L.")
    customer = Customer.objects.get()
    assert (customer.organization_id, customer.external_id, customer.name) == (
        org.pk,
        "crm-1",
        "Ada L.",
    )
    assert list(Event.objects.order_by("id").values_list("type", flat=True)) == [
        "customer.created",
        "customer.updated",
    ]


def test_a_lead_is_created_then_updated(owner):
    path = "/api/leads/external/L-9/"
    body = {"name": "Lee", "email": "lee@example.com"}

    codes = [owner.client.put(path, body, format="json").status_code for _ in range(2)]

    assert codes == [201, 200]
    assert Lead.objects.get().external_id == "L-9"


def test_a_deal_is_created_then_updated(owner, org):
    stage = PipelineStageFactory(pipeline__organization=org)
    customer = CustomerFactory(organization=org)
    body = {
        "title": "Big",
        "customer_id": customer.pk,
        "pipeline_id": stage.pipeline_id,
        "stage_id": stage.pk,
    }

    first = owner.client.put("/api/deals/external/D-1/", body, format="json")
    second = owner.client.put("/api/deals/external/D-1/", {"title": "Bigger"}, format="json")

    assert (first.status_code, second.status_code) == (201, 200), (first.data, second.data)
    deal = Deal.objects.get()
    assert (deal.external_id, deal.title) == ("D-1", "Bigger")


def test_invalid_input_is_refused_and_creates_nothing(owner):
    response = owner.client.put(
        "/api/customers/external/crm-1/", {"name": "Ada", "email": "not-an-email"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.data["details"]) == ["email"]
    assert Customer.objects.count() == 0


def test_a_body_external_id_must_match_the_url(owner):
    response = owner.client.put(
        "/api/customers/external/crm-1/",
        {"name": "Ada", "email": "ada@example.com", "external_id": "crm-2"},
        format="json",
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "external_id": ["Must be the external id of the URL (or left out)."]
    }


def test_another_organizations_external_id_is_independent(owner, org, other_org):
    theirs = CustomerFactory(organization=other_org, external_id="crm-1", name="Theirs")

    response = owner.client.put(
        "/api/customers/external/crm-1/", {"name": "Mine", "email": "m@example.com"}, format="json"
    )

    assert response.status_code == 201
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert Customer.objects.filter(external_id="crm-1").count() == 2


def test_external_ids_are_unique_per_organization(owner, org):
    CustomerFactory(organization=org, external_id="crm-1")

    response = owner.client.post(
        "/api/customers/",
        {"name": "Ada", "email": "ada@example.com", "external_id": "crm-1"},
        format="json",
    )
    blank = [
        owner.client.post(
            "/api/customers/",
            {"name": "Ada", "email": "ada@example.com", "external_id": ""},
            format="json",
        )
        for _ in range(2)
    ]

    assert response.status_code == 400
    assert response.data["details"] == {
        "external_id": ["Another record of this organization has this external id."]
    }
    assert [b.status_code for b in blank] == [201, 201]
    assert [b.data["external_id"] for b in blank] == [None, None]


def test_external_id_filter(owner, org):
    wanted = CustomerFactory(organization=org, external_id="crm-1")
    CustomerFactory(organization=org, external_id="crm-2")
    CustomerFactory(organization=org)

    response = owner.client.get("/api/customers/", {"external_id": "crm-1"})
    deals = owner.client.get("/api/deals/", {"external_id": "nope"})

    assert [row["id"] for row in response.data["results"]] == [wanted.pk]
    assert deals.data["count"] == 0


def test_upsert_needs_create_and_update(org):
    viewer = make_member(org, role="viewer")

    response = viewer.client.put(
        "/api/customers/external/crm-1/", {"name": "Ada", "email": "a@example.com"}, format="json"
    )

    assert response.status_code == 403
    assert Customer.objects.count() == 0
