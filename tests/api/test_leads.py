"""Leads: CRUD, filters, search, ordering, stats, qualify/disqualify and convert."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmApp.models import Customer, Lead
from tests.factories import EmployeeFactory, LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/leads/"

DETAIL_KEYS = [
    "id",
    "organization",
    "code",
    "external_id",
    "name",
    "company",
    "job_title",
    "email",
    "phone",
    "status",
    "source",
    "qualification_status",
    "assigned_to",
    "assigned_to_id",
    "lead_score",
    "estimated_value",
    "is_converted",
    "converted_at",
    "converted_by",
    "converted_by_name",
    "tags",
    "notes",
    "campaign",
    "referrer",
    "address",
    "city",
    "state",
    "zip_code",
    "country",
    "created_at",
    "updated_at",
]


def detail_url(pk) -> str:
    return f"{URL}{pk}/"


def queries_for_missing_detail(member) -> int:
    """Authentication and access resolution plus a single SELECT (a 404 detail)."""
    with CaptureQueriesContext(connection) as queries:
        assert member.client.get(detail_url(2**40)).status_code == 404
    return len(queries)


def full_payload(org, **overrides) -> dict:
    payload = {
        "organization": org.pk,
        "name": "Jane Smith",
        "email": "jane@example.com",
        "company": "Acme Ltd",
        "job_title": "CTO",
        "phone": "+1 555 0100",
        "source": "referral",
        "qualification_status": "contacted",
        "lead_score": 70,
        "estimated_value": "2500.5",
        "tags": ["hot"],
        "notes": "Asked for a demo.",
        "campaign": "Spring",
        "referrer": "Bob",
        "address": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62701",
        "country": "US",
    }
    payload.update(overrides)
    return payload


# --- create ----------------------------------------------------------------------------------


def test_create_lead_answers_detail_with_generated_code(sales, org):
    rep = EmployeeFactory(organization=org, first_name="Ada", last_name="Lovelace")

    response = sales.client.post(URL, full_payload(org, assigned_to_id=rep.pk))

    assert response.status_code == 201, response.data
    body = response.json()
    assert list(body) == DETAIL_KEYS
    lead = Lead.objects.get()
    assert {k: v for k, v in body.items() if k not in ("created_at", "updated_at")} == {
        "id": lead.pk,
        "organization": org.pk,
        "code": "LEAD-000001",
        "external_id": None,
        "name": "Jane Smith",
        "company": "Acme Ltd",
        "job_title": "CTO",
        "email": "jane@example.com",
        "phone": "+1 555 0100",
        "status": "active",
        "source": "referral",
        "qualification_status": "contacted",
        "assigned_to": {
            "id": rep.pk,
            "code": rep.code,
            "full_name": "Ada Lovelace",
            "email": rep.email,
            "phone": None,
            "department": "Sales",
            "job_title": None,
            "status": "active",
            "manager_name": None,
        },
        "assigned_to_id": rep.pk,
        "lead_score": 70,
        "estimated_value": "2500.50",
        "is_converted": False,
        "converted_at": None,
        "converted_by": None,
        "converted_by_name": None,
        "tags": ["hot"],
        "notes": "Asked for a demo.",
        "campaign": "Spring",
        "referrer": "Bob",
        "address": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62701",
        "country": "US",
    }
    assert lead.postal_code == "62701"


def test_create_lead_defaults(owner, org):
    response = owner.client.post(URL, {"organization": org.pk, "name": "A", "email": "a@b.co"})

    assert response.status_code == 201, response.data
    assert (
        response.data["status"],
        response.data["source"],
        response.data["qualification_status"],
        response.data["lead_score"],
        response.data["estimated_value"],
        response.data["tags"],
    ) == ("active", "website", "new", 0, None, [])


def test_create_lead_ignores_status_and_conversion_fields(owner, org):
    response = owner.client.post(
        URL,
        full_payload(
            org, status="inactive", is_converted=True, converted_at="2020-01-01T00:00:00Z"
        ),
    )

    assert response.status_code == 201, response.data
    lead = Lead.objects.get()
    assert (lead.status, lead.is_converted, lead.converted_at) == ("active", False, None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("source", "tv", '"tv" is not a valid choice.'),
        ("qualification_status", "hot", '"hot" is not a valid choice.'),
        ("qualification_status", "converted", "Only lead conversion can set this status."),
        ("email", "nope", "Enter a valid email address."),
        ("lead_score", 101, "Ensure this value is less than or equal to 100."),
        ("lead_score", -1, "Ensure this value is greater than or equal to 0."),
        ("lead_score", "x", "A valid integer is required."),
        ("estimated_value", "-5", "Ensure this value is greater than or equal to 0."),
        ("estimated_value", "12.3.4", "A valid number is required."),
        (
            "estimated_value",
            "1e20",
            "Ensure that there are no more than 12 digits in total.",
        ),
        ("tags", {"a": 1}, 'Expected a list of items but got type "dict".'),
        ("assigned_to_id", 999999, 'Invalid pk "999999" - object does not exist.'),
    ],
)
def test_create_lead_rejects_bad_input(owner, org, field, value, message):
    response = owner.client.post(URL, full_payload(org, **{field: value}))

    assert response.status_code == 400
    assert response.json() == {
        "error": "An error occurred",
        "details": {field: [message]},
        "status_code": 400,
    }
    assert Lead.objects.count() == 0


def test_create_lead_with_foreign_assignee_is_400(owner, org, other_org):
    foreign = EmployeeFactory(organization=other_org)

    response = owner.client.post(URL, full_payload(org, assigned_to_id=foreign.pk))

    assert response.status_code == 400
    assert list(response.data["details"]) == ["assigned_to_id"]
    assert Lead.objects.count() == 0


def test_create_lead_in_another_organization_is_400(owner, org, other_org):
    response = owner.client.post(URL, full_payload(org, organization=other_org.pk))

    assert response.status_code == 400
    assert list(response.data["details"]) == ["organization"]
    assert Lead.objects.count() == 0


def test_viewer_cannot_create_lead(viewer, org):
    response = viewer.client.post(URL, full_payload(org))

    assert response.status_code == 403
    assert Lead.objects.count() == 0


# --- list ----------------------------------------------------------------------------------------


def test_list_leads_answers_list_items_of_own_organization_only(owner, org, other_org):
    rep = EmployeeFactory(organization=org, first_name="Ada", last_name="Lovelace")
    lead = LeadFactory(
        organization=org,
        name="Jane",
        email="jane@example.com",
        company="Acme",
        lead_score=40,
        estimated_value="99.9",
        assigned_to=rep,
    )
    LeadFactory(organization=other_org)

    response = owner.client.get(URL)

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert response.json()["results"] == [
        {
            "id": lead.pk,
            "code": "LEAD-000001",
            "name": "Jane",
            "email": "jane@example.com",
            "phone": None,
            "company": "Acme",
            "job_title": None,
            "status": "active",
            "source": "website",
            "qualification_status": "new",
            "lead_score": 40,
            "estimated_value": "99.90",
            "assigned_to_name": "Ada Lovelace",
            "is_converted": False,
            "created_at": lead.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    ]


def test_list_leads_filters(owner, org):
    rep = EmployeeFactory(organization=org)
    hot = LeadFactory(
        organization=org, source="referral", qualification_status="qualified", lead_score=90
    )
    converted = LeadFactory(
        organization=org, is_converted=True, qualification_status="converted", lead_score=50
    )
    cold = LeadFactory(organization=org, status="inactive", assigned_to=rep, lead_score=10)

    def ids(query):
        response = owner.client.get(URL, query)
        assert response.status_code == 200, response.data
        return [row["id"] for row in response.data["results"]]

    assert ids({"status": "inactive"}) == [cold.pk]
    assert ids({"qualification_status": "qualified"}) == [hot.pk]
    assert ids({"source": "referral"}) == [hot.pk]
    assert ids({"assigned_to": rep.pk}) == [cold.pk]
    assert ids({"is_converted": "true"}) == [converted.pk]
    assert ids({"is_converted": "TRUE"}) == [converted.pk]
    assert ids({"is_converted": "1"}) == [converted.pk]
    assert ids({"is_converted": "false"}) == [hot.pk, cold.pk]
    assert ids({"is_converted": "0"}) == [hot.pk, cold.pk]
    assert ids({"is_converted": ""}) == [hot.pk, converted.pk, cold.pk]
    assert ids({"min_score": 50}) == [hot.pk, converted.pk]
    assert ids({"max_score": 50}) == [converted.pk, cold.pk]
    assert ids({"min_score": 20, "max_score": 60}) == [converted.pk]
    assert ids({"created_after": "2000-01-01"}) == [hot.pk, converted.pk, cold.pk]
    assert ids({"created_before": "2000-01-01"}) == []


@pytest.mark.parametrize(
    "query",
    [
        {"is_converted": "maybe"},
        {"status": "new"},
        {"qualification_status": "zzz"},
        {"source": "tv"},
        {"assigned_to": "abc"},
        {"assigned_to": "0"},
        {"min_score": "high"},
        {"max_score": "101"},
        {"created_before": "2020-13-01"},
        {"priority": "high"},
        {"organization": "x1"},
        {"ordering": "priority"},
    ],
)
def test_list_leads_bad_query_is_400(owner, org, query):
    LeadFactory(organization=org)

    response = owner.client.get(URL, query)

    assert response.status_code == 400
    assert response.data["error"] == "An error occurred"
    assert list(response.data["details"]) == [next(iter(query))]


def test_search_leads_matches_whole_text(owner, org):
    john = LeadFactory(organization=org, name="John Smith", company="Initech")
    acme = LeadFactory(organization=org, name="Other", company="ACME")
    by_mail = LeadFactory(organization=org, name="Mail", email="smith@example.com")

    def ids(text):
        return [row["id"] for row in owner.client.get(URL, {"search": text}).data["results"]]

    assert ids("john smith") == [john.pk]
    assert ids("smith acme") == []
    assert ids("acme") == [acme.pk]
    assert ids("smith") == [john.pk, by_mail.pk]


def test_order_leads_by_score_alias_and_public_names(owner, org):
    low = LeadFactory(organization=org, lead_score=5, name="B")
    high = LeadFactory(organization=org, lead_score=95, name="A")
    mid = LeadFactory(organization=org, lead_score=50, name="C")

    by_score = owner.client.get(URL, {"ordering": "-score"})
    by_lead_score = owner.client.get(URL, {"ordering": "lead_score"})
    by_name = owner.client.get(URL, {"ordering": "name"})

    assert [row["id"] for row in by_score.data["results"]] == [high.pk, mid.pk, low.pk]
    assert [row["id"] for row in by_lead_score.data["results"]] == [low.pk, mid.pk, high.pk]
    assert [row["id"] for row in by_name.data["results"]] == [high.pk, low.pk, mid.pk]


def test_no_role_cannot_list_leads(no_role, org):
    LeadFactory(organization=org)

    assert no_role.client.get(URL).status_code == 403


def test_list_leads_query_count_is_constant(owner, org):
    LeadFactory(organization=org, assigned_to=EmployeeFactory(organization=org))
    with CaptureQueriesContext(connection) as one_row:
        first = owner.client.get(URL)
    for _ in range(49):
        LeadFactory(organization=org, assigned_to=EmployeeFactory(organization=org))
    with CaptureQueriesContext(connection) as fifty_rows:
        second = owner.client.get(URL, {"page_size": 100})

    assert (first.data["count"], len(second.data["results"])) == (1, 50)
    assert len(fifty_rows) == len(one_row)
    assert len(one_row) == queries_for_missing_detail(owner) + 1  # + COUNT and the page


# --- retrieve, update, delete ----------------------------------------------------------------


def test_retrieve_lead_detail(owner, org):
    boss = EmployeeFactory(organization=org, first_name="Grace", last_name="Hopper")
    rep = EmployeeFactory(organization=org, manager=boss)
    closer = EmployeeFactory(organization=org, first_name="Alan", last_name="Turing")
    lead = LeadFactory(
        organization=org,
        assigned_to=rep,
        is_converted=True,
        converted_by=closer,
        converted_at=timezone.now(),
        qualification_status="converted",
    )

    response = owner.client.get(detail_url(lead.pk))

    assert response.status_code == 200
    body = response.json()
    assert list(body) == DETAIL_KEYS
    assert body["assigned_to"]["manager_name"] == "Grace Hopper"
    assert (body["converted_by"], body["converted_by_name"]) == (closer.pk, "Alan Turing")


def test_retrieve_lead_of_another_organization_is_404(owner, other_org):
    foreign = LeadFactory(organization=other_org)

    response = owner.client.get(detail_url(foreign.pk))

    assert response.status_code == 404
    assert response.json()["details"] == "No Lead matches the given query."


def test_patch_lead(sales, org):
    rep = EmployeeFactory(organization=org)
    lead = LeadFactory(organization=org)

    response = sales.client.patch(
        detail_url(lead.pk),
        {"status": "inactive", "lead_score": 100, "assigned_to_id": rep.pk, "zip_code": "1"},
    )

    assert response.status_code == 200, response.data
    assert list(response.json()) == DETAIL_KEYS
    lead.refresh_from_db()
    assert (lead.status, lead.lead_score, lead.assigned_to_id, lead.postal_code) == (
        "inactive",
        100,
        rep.pk,
        "1",
    )


def test_put_lead_requires_name_and_email(owner, org):
    lead = LeadFactory(organization=org, name="Keep")

    response = owner.client.put(detail_url(lead.pk), {"company": "X"})

    assert response.status_code == 400
    assert response.data["details"] == {
        "name": ["This field is required."],
        "email": ["This field is required."],
    }
    lead.refresh_from_db()
    assert lead.name == "Keep"


def test_update_lead_cannot_set_converted(owner, org):
    lead = LeadFactory(organization=org)

    response = owner.client.patch(detail_url(lead.pk), {"qualification_status": "converted"})

    assert response.status_code == 400
    assert response.data["details"] == {
        "qualification_status": ["Only lead conversion can set this status."]
    }
    lead.refresh_from_db()
    assert lead.qualification_status == "new"


def test_converted_lead_qualification_status_is_read_only(owner, org):
    lead = LeadFactory(organization=org, is_converted=True, qualification_status="converted")

    changed = owner.client.patch(detail_url(lead.pk), {"qualification_status": "new"})
    same = owner.client.patch(
        detail_url(lead.pk), {"qualification_status": "converted", "notes": "Still editable"}
    )

    assert changed.status_code == 400
    assert changed.data["details"] == {
        "qualification_status": ["The qualification status of a converted lead cannot be changed."]
    }
    assert same.status_code == 200
    lead.refresh_from_db()
    assert (lead.qualification_status, lead.notes) == ("converted", "Still editable")


def test_update_lead_conversion_fields_are_read_only(owner, org):
    lead = LeadFactory(organization=org)
    closer = EmployeeFactory(organization=org)

    response = owner.client.patch(
        detail_url(lead.pk), {"is_converted": True, "converted_by": closer.pk, "code": "X"}
    )

    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.is_converted, lead.converted_by_id, lead.code) == (False, None, "LEAD-000001")


def test_update_lead_with_foreign_assignee_or_organization_is_400(owner, org, other_org):
    lead = LeadFactory(organization=org)
    foreign = EmployeeFactory(organization=other_org)

    assignee = owner.client.patch(detail_url(lead.pk), {"assigned_to_id": foreign.pk})
    organization = owner.client.patch(detail_url(lead.pk), {"organization": other_org.pk})

    assert assignee.status_code == 400
    assert list(assignee.data["details"]) == ["assigned_to_id"]
    assert organization.status_code == 400
    assert list(organization.data["details"]) == ["organization"]
    lead.refresh_from_db()
    assert (lead.assigned_to_id, lead.organization_id) == (None, org.pk)


def test_update_lead_of_another_organization_is_404(owner, other_org):
    foreign = LeadFactory(organization=other_org, name="Theirs")

    response = owner.client.patch(detail_url(foreign.pk), {"name": "Mine"})

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"


def test_viewer_cannot_update_or_delete_lead(viewer, org):
    lead = LeadFactory(organization=org, name="Same")

    update = viewer.client.patch(detail_url(lead.pk), {"name": "Changed"})
    delete = viewer.client.delete(detail_url(lead.pk))

    assert (update.status_code, delete.status_code) == (403, 403)
    lead.refresh_from_db()
    assert lead.name == "Same"


def test_delete_lead(manager, org, other_org):
    lead = LeadFactory(organization=org)
    foreign = LeadFactory(organization=other_org)

    deleted = manager.client.delete(detail_url(lead.pk))
    not_found = manager.client.delete(detail_url(foreign.pk))

    assert (deleted.status_code, not_found.status_code) == (204, 404)
    assert list(Lead.objects.values_list("pk", flat=True)) == [foreign.pk]


# --- qualify / disqualify --------------------------------------------------------------------


def test_qualify_and_disqualify_lead(sales, org):
    lead = LeadFactory(organization=org)

    qualified = sales.client.post(detail_url(lead.pk) + "qualify/")
    lead.refresh_from_db()
    after_qualify = lead.qualification_status
    disqualified = sales.client.post(detail_url(lead.pk) + "disqualify/")

    assert qualified.status_code == 200
    assert qualified.data["message"] == "Lead qualified successfully."
    assert qualified.data["lead"]["qualification_status"] == "qualified"
    assert list(qualified.json()["lead"]) == DETAIL_KEYS
    assert after_qualify == "qualified"
    assert disqualified.status_code == 200
    assert disqualified.data["message"] == "Lead disqualified."
    assert disqualified.data["lead"]["qualification_status"] == "unqualified"
    lead.refresh_from_db()
    assert lead.qualification_status == "unqualified"


@pytest.mark.parametrize("action", ["qualify", "disqualify"])
def test_qualification_actions_refuse_converted_lead(owner, org, action):
    lead = LeadFactory(organization=org, is_converted=True, qualification_status="converted")

    response = owner.client.post(detail_url(lead.pk) + f"{action}/")

    assert response.status_code == 400
    assert response.data["details"] == {
        "non_field_errors": ["A converted lead cannot be qualified or disqualified."]
    }
    lead.refresh_from_db()
    assert lead.qualification_status == "converted"


@pytest.mark.parametrize("action", ["qualify", "disqualify", "convert"])
def test_lead_actions_on_another_organization_are_404(owner, other_org, action):
    foreign = LeadFactory(organization=other_org)

    response = owner.client.post(detail_url(foreign.pk) + f"{action}/")

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert (foreign.qualification_status, foreign.is_converted) == ("new", False)
    assert Customer.objects.count() == 0


@pytest.mark.parametrize("action", ["qualify", "disqualify", "convert"])
def test_viewer_cannot_run_lead_actions(viewer, org, action):
    lead = LeadFactory(organization=org)

    response = viewer.client.post(detail_url(lead.pk) + f"{action}/")

    assert response.status_code == 403
    lead.refresh_from_db()
    assert (lead.qualification_status, lead.is_converted) == ("new", False)
    assert Customer.objects.count() == 0


# --- convert -------------------------------------------------------------------------------------


def test_convert_lead_creates_customer(sales, org):
    closer = EmployeeFactory(organization=org, user=sales.user, first_name="Sam", last_name="Sale")
    rep = EmployeeFactory(organization=org)
    lead_rep = EmployeeFactory(organization=org)
    lead = LeadFactory(
        organization=org,
        name="Jane",
        company="Acme",
        email="jane@example.com",
        phone="123",
        source="event",
        address="1 Main",
        city="Town",
        state="ST",
        postal_code="999",
        country="NL",
        notes="Notes",
        tags=["t"],
        job_title="CEO",
        campaign="C",
        estimated_value="10.00",
        assigned_to=lead_rep,
        qualification_status="qualified",
    )

    response = sales.client.post(
        detail_url(lead.pk) + "convert/", {"customer_type": "individual", "assigned_to_id": rep.pk}
    )

    assert response.status_code == 201, response.data
    customer = Customer.objects.get()
    lead.refresh_from_db()
    assert response.data["message"] == "Lead converted successfully."
    assert response.data["customer_id"] == customer.pk
    assert list(response.json()) == ["message", "customer_id", "lead"]
    assert list(response.json()["lead"]) == DETAIL_KEYS
    assert response.data["lead"]["is_converted"] is True
    assert response.data["lead"]["qualification_status"] == "converted"
    assert response.data["lead"]["converted_by"] == closer.pk
    assert response.data["lead"]["converted_by_name"] == "Sam Sale"
    assert (lead.is_converted, lead.qualification_status, lead.converted_by_id) == (
        True,
        "converted",
        closer.pk,
    )
    assert lead.converted_at is not None
    assert customer.converted_at == lead.converted_at
    assert {
        "organization_id": customer.organization_id,
        "code": customer.code,
        "name": customer.name,
        "company_name": customer.company_name,
        "email": customer.email,
        "phone": customer.phone,
        "source": customer.source,
        "address": customer.address,
        "city": customer.city,
        "state": customer.state,
        "postal_code": customer.postal_code,
        "country": customer.country,
        "notes": customer.notes,
        "customer_type": customer.customer_type,
        "status": customer.status,
        "assigned_to_id": customer.assigned_to_id,
        "converted_from_lead_id": customer.converted_from_lead_id,
        "tags": customer.tags,
    } == {
        "organization_id": org.pk,
        "code": "CUS-000001",
        "name": "Jane",
        "company_name": "Acme",
        "email": "jane@example.com",
        "phone": "123",
        "source": "event",
        "address": "1 Main",
        "city": "Town",
        "state": "ST",
        "postal_code": "999",
        "country": "NL",
        "notes": "Notes",
        "customer_type": "individual",
        "status": "active",
        "assigned_to_id": rep.pk,
        "converted_from_lead_id": lead.pk,
        "tags": [],
    }


def test_convert_lead_defaults_to_business_without_assignee_or_employee_record(owner, org):
    lead = LeadFactory(organization=org, assigned_to=EmployeeFactory(organization=org))

    response = owner.client.post(detail_url(lead.pk) + "convert/")

    assert response.status_code == 201, response.data
    customer = Customer.objects.get(pk=response.data["customer_id"])
    assert (customer.customer_type, customer.assigned_to_id) == ("business", None)
    assert (response.data["lead"]["converted_by"], response.data["lead"]["converted_by_name"]) == (
        None,
        None,
    )


def test_convert_lead_twice_is_400(owner, org):
    lead = LeadFactory(organization=org)
    first = owner.client.post(detail_url(lead.pk) + "convert/")

    second = owner.client.post(detail_url(lead.pk) + "convert/")

    assert first.status_code == 201
    assert second.status_code == 400
    assert second.json() == {
        "error": "An error occurred",
        "details": {"non_field_errors": ["Lead has already been converted."]},
        "status_code": 400,
    }
    assert Customer.objects.count() == 1


@pytest.mark.parametrize("qualification", ["unqualified", "lost"])
def test_convert_disqualified_lead_is_400(owner, org, qualification):
    lead = LeadFactory(organization=org, qualification_status=qualification)

    response = owner.client.post(detail_url(lead.pk) + "convert/")

    assert response.status_code == 400
    assert list(response.data["details"]) == ["non_field_errors"]
    lead.refresh_from_db()
    assert (lead.is_converted, lead.qualification_status) == (False, qualification)
    assert Customer.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"customer_type": "alien"}, "customer_type", '"alien" is not a valid choice.'),
        (
            {"assigned_to_id": "abc"},
            "assigned_to_id",
            "Incorrect type. Expected pk value, received str.",
        ),
        (
            {"assigned_to_id": 99999},
            "assigned_to_id",
            'Invalid pk "99999" - object does not exist.',
        ),
    ],
)
def test_convert_lead_bad_body_is_400(owner, org, body, field, message):
    lead = LeadFactory(organization=org)

    response = owner.client.post(detail_url(lead.pk) + "convert/", body)

    assert response.status_code == 400
    assert response.data["details"] == {field: [message]}
    lead.refresh_from_db()
    assert lead.is_converted is False
    assert Customer.objects.count() == 0


def test_convert_lead_with_employee_of_another_organization_is_400(owner, org, other_org):
    other_org.user_organizations.create(user=owner.user, is_owner=True)  # visible, still foreign
    foreign = EmployeeFactory(organization=other_org)
    lead = LeadFactory(organization=org)

    response = owner.client.post(detail_url(lead.pk) + "convert/", {"assigned_to_id": foreign.pk})

    assert response.status_code == 400
    assert response.data["details"] == {
        "assigned_to_id": [f'Invalid pk "{foreign.pk}" - object does not exist.']
    }
    lead.refresh_from_db()
    assert lead.is_converted is False
    assert Customer.objects.count() == 0


def test_convert_needs_customer_create_permission(org):
    from crmApp.models import Permission, Role, RolePermission, UserRole
    from tests.conftest import make_member

    member = make_member(org)
    role = Role.objects.create(organization=org, name="Lead editor", slug="lead-editor")
    RolePermission.objects.bulk_create(
        RolePermission(role=role, permission=permission)
        for permission in Permission.objects.filter(
            organization=org, resource="leads", action__in=["view", "update"]
        )
    )
    UserRole.objects.create(user=member.user, organization=org, role=role)
    lead = LeadFactory(organization=org)

    denied = member.client.post(detail_url(lead.pk) + "convert/")
    qualified = member.client.post(detail_url(lead.pk) + "qualify/")

    assert denied.status_code == 403
    assert qualified.status_code == 200
    assert Customer.objects.count() == 0


def test_converted_customer_shows_its_source_lead(owner, org):
    lead = LeadFactory(organization=org, name="From lead")
    customer_id = owner.client.post(detail_url(lead.pk) + "convert/").data["customer_id"]

    response = owner.client.get(f"/api/customers/{customer_id}/")

    assert response.data["converted_from_lead"] == {"id": lead.pk, "name": "From lead"}
    assert response.data["converted_at"] is not None


# --- stats ---------------------------------------------------------------------------------------


def test_lead_stats(owner, org, other_org):
    LeadFactory(organization=org, source="website", qualification_status="new")
    LeadFactory(organization=org, source="website", qualification_status="contacted")
    LeadFactory(organization=org, source="referral", qualification_status="qualified")
    LeadFactory(
        organization=org, source="referral", is_converted=True, qualification_status="converted"
    )
    LeadFactory(organization=org, source="event", status="inactive", qualification_status="lost")
    LeadFactory(organization=other_org, source="partner")

    response = owner.client.get(URL + "stats/")

    assert response.status_code == 200
    assert response.json() == {
        "total": 5,
        "active": 4,
        "converted": 1,
        "unconverted": 4,
        "by_qualification": {
            "new": 1,
            "contacted": 1,
            "qualified": 1,
            "unqualified": 0,
            "converted": 1,
            "lost": 1,
        },
        "by_source": {"event": 1, "referral": 2, "website": 2},
    }


def test_lead_stats_honour_organization_narrowing(owner, org, other_org):
    other_org.user_organizations.create(user=owner.user, is_owner=True)
    LeadFactory(organization=org, source="website")
    LeadFactory(organization=other_org, source="partner")

    both = owner.client.get(URL + "stats/")
    narrowed = owner.client.get(URL + "stats/", {"organization": other_org.pk})
    header = owner.client.get(URL + "stats/", HTTP_X_ORGANIZATION_ID=str(org.pk))

    assert both.data["by_source"] == {"partner": 1, "website": 1}
    assert (narrowed.data["total"], narrowed.data["by_source"]) == (1, {"partner": 1})
    assert (header.data["total"], header.data["by_source"]) == (1, {"website": 1})


def test_lead_stats_query_count_is_constant(owner, org):
    LeadFactory(organization=org)
    with CaptureQueriesContext(connection) as few:
        owner.client.get(URL + "stats/")
    sources = ["website", "referral", "social_media", "email_campaign", "cold_call", "event"]
    for index in range(24):
        LeadFactory(organization=org, source=sources[index % len(sources)])
    with CaptureQueriesContext(connection) as many:
        response = owner.client.get(URL + "stats/")

    assert len(response.data["by_source"]) == 6
    assert len(many) == len(few)
    assert len(few) == queries_for_missing_detail(owner)  # one GROUP BY source


def test_no_role_cannot_read_lead_stats(no_role):
    assert no_role.client.get(URL + "stats/").status_code == 403
