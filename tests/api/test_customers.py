"""Customers: CRUD, filters, search, ordering, stats and status actions."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmApp.models import Customer
from tests.factories import CustomerFactory, EmployeeFactory, LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/customers/"

DETAIL_KEYS = [
    "id",
    "organization",
    "code",
    "external_id",
    "name",
    "company_name",
    "contact_person",
    "email",
    "phone",
    "website",
    "customer_type",
    "status",
    "industry",
    "assigned_to",
    "assigned_to_id",
    "payment_terms",
    "credit_limit",
    "tax_id",
    "address",
    "city",
    "state",
    "zip_code",
    "country",
    "source",
    "tags",
    "notes",
    "converted_from_lead",
    "converted_at",
    "created_at",
    "updated_at",
]


def detail_url(pk) -> str:
    return f"{URL}{pk}/"


def employee_item(employee, manager_name=None) -> dict:
    return {
        "id": employee.pk,
        "code": employee.code,
        "full_name": employee.full_name,
        "email": employee.email,
        "phone": employee.phone,
        "department": employee.department,
        "job_title": employee.job_title,
        "status": employee.status,
        "manager_name": manager_name,
    }


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
        "company_name": "Acme Ltd",
        "contact_person": "John",
        "phone": "+1 555 0100",
        "website": "https://acme.example.com",
        "customer_type": "business",
        "status": "active",
        "industry": "Retail",
        "payment_terms": "Net 30",
        "credit_limit": "1000",
        "tax_id": "TAX-1",
        "address": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62701",
        "country": "US",
        "source": "Fair",
        "tags": ["vip", "retail"],
        "notes": "Met at the fair.",
    }
    payload.update(overrides)
    return payload


# --- create ----------------------------------------------------------------------------------


def test_create_customer_answers_detail_with_generated_code(owner, org):
    boss = EmployeeFactory(organization=org, first_name="Grace", last_name="Hopper")
    rep = EmployeeFactory(organization=org, first_name="Ada", last_name="Lovelace", manager=boss)

    response = owner.client.post(URL, full_payload(org, assigned_to_id=rep.pk))

    assert response.status_code == 201, response.data
    body = response.json()
    assert list(body) == DETAIL_KEYS
    customer = Customer.objects.get()
    assert body["id"] == customer.pk
    assert body["code"] == "CUS-000001"
    assert {k: v for k, v in body.items() if k not in ("created_at", "updated_at")} == {
        "id": customer.pk,
        "organization": org.pk,
        "code": "CUS-000001",
        "external_id": None,
        "name": "Jane Smith",
        "company_name": "Acme Ltd",
        "contact_person": "John",
        "email": "jane@example.com",
        "phone": "+1 555 0100",
        "website": "https://acme.example.com",
        "customer_type": "business",
        "status": "active",
        "industry": "Retail",
        "assigned_to": employee_item(rep, manager_name="Grace Hopper"),
        "assigned_to_id": rep.pk,
        "payment_terms": "Net 30",
        "credit_limit": "1000.00",
        "tax_id": "TAX-1",
        "address": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62701",
        "country": "US",
        "source": "Fair",
        "tags": ["vip", "retail"],
        "notes": "Met at the fair.",
        "converted_from_lead": None,
        "converted_at": None,
    }
    assert customer.postal_code == "62701"
    assert body["created_at"].endswith("Z")


def test_create_customer_minimal_uses_defaults_and_only_organization(owner, org):
    response = owner.client.post(URL, {"name": "Bob", "email": "bob@example.com"})

    assert response.status_code == 201, response.data
    body = response.json()
    assert body["organization"] == org.pk
    assert body["customer_type"] == "individual"
    assert body["status"] == "active"
    assert body["tags"] == []
    assert body["assigned_to"] is None
    assert body["assigned_to_id"] is None
    assert body["credit_limit"] is None
    assert body["zip_code"] is None


def test_create_customer_codes_are_sequential_per_organization(owner, org, other_org):
    CustomerFactory(organization=other_org)

    first = owner.client.post(URL, {"name": "A", "email": "a@example.com"})
    second = owner.client.post(URL, {"name": "B", "email": "b@example.com"})

    assert (first.data["code"], second.data["code"]) == ("CUS-000001", "CUS-000002")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("customer_type", "alien", '"alien" is not a valid choice.'),
        ("status", "churned", '"churned" is not a valid choice.'),
        ("email", "not-an-email", "Enter a valid email address."),
        ("website", "nope", "Enter a valid URL."),
        ("credit_limit", "abc", "A valid number is required."),
        ("credit_limit", "-1", "Ensure this value is greater than or equal to 0."),
        (
            "credit_limit",
            "1234567890123",
            "Ensure that there are no more than 12 digits in total.",
        ),
        ("tags", "vip", 'Expected a list of items but got type "str".'),
        ("name", "", "This field may not be blank."),
        ("assigned_to_id", "abc", "Incorrect type. Expected pk value, received str."),
        ("assigned_to_id", 999999, 'Invalid pk "999999" - object does not exist.'),
    ],
)
def test_create_customer_rejects_bad_input(owner, org, field, value, message):
    response = owner.client.post(URL, full_payload(org, **{field: value}))

    assert response.status_code == 400
    assert response.json() == {
        "error": "An error occurred",
        "details": {field: [message]},
        "status_code": 400,
    }
    assert Customer.objects.count() == 0


def test_create_customer_requires_name_and_email(owner):
    response = owner.client.post(URL, {})

    assert response.status_code == 400
    assert response.data["details"] == {
        "name": ["This field is required."],
        "email": ["This field is required."],
    }


def test_create_customer_with_foreign_assignee_is_400(owner, org, other_org):
    foreign = EmployeeFactory(organization=other_org)

    response = owner.client.post(URL, full_payload(org, assigned_to_id=foreign.pk))

    assert response.status_code == 400
    assert response.data["details"] == {
        "assigned_to_id": [f'Invalid pk "{foreign.pk}" - object does not exist.']
    }
    assert Customer.objects.count() == 0


def test_create_customer_in_another_organization_is_400(owner, org, other_org):
    response = owner.client.post(URL, full_payload(org, organization=other_org.pk))

    assert response.status_code == 400
    assert list(response.data["details"]) == ["organization"]
    assert Customer.objects.count() == 0


def test_viewer_cannot_create_customer(viewer, org):
    response = viewer.client.post(URL, full_payload(org))

    assert response.status_code == 403
    assert Customer.objects.count() == 0


# --- list, filters, search, ordering -----------------------------------------------------------


def test_list_customers_answers_list_items_of_own_organization_only(owner, org, other_org):
    rep = EmployeeFactory(organization=org, first_name="Ada", last_name="Lovelace")
    mine = CustomerFactory(
        organization=org, name="Jane", email="jane@example.com", phone="1", assigned_to=rep
    )
    CustomerFactory(organization=other_org)

    response = owner.client.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": mine.pk,
                "code": "CUS-000001",
                "name": "Jane",
                "email": "jane@example.com",
                "phone": "1",
                "customer_type": "individual",
                "status": "active",
                "assigned_to_name": "Ada Lovelace",
            }
        ],
    }


def test_list_customers_default_order_is_ascending_id(owner, org):
    ids = [CustomerFactory(organization=org).pk for _ in range(3)]

    response = owner.client.get(URL)

    assert [row["id"] for row in response.data["results"]] == ids


def test_list_customers_filters(owner, org):
    rep = EmployeeFactory(organization=org)
    active_business = CustomerFactory(organization=org, customer_type="business", assigned_to=rep)
    inactive = CustomerFactory(organization=org, status="inactive")
    individual = CustomerFactory(organization=org)

    def ids(query):
        response = owner.client.get(URL, query)
        assert response.status_code == 200, response.data
        return [row["id"] for row in response.data["results"]]

    assert ids({"status": "inactive"}) == [inactive.pk]
    assert ids({"status": "active"}) == [active_business.pk, individual.pk]
    assert ids({"customer_type": "business"}) == [active_business.pk]
    assert ids({"assigned_to": rep.pk}) == [active_business.pk]
    assert ids({"status": ""}) == [active_business.pk, inactive.pk, individual.pk]
    assert ids({"organization": org.pk}) == [active_business.pk, inactive.pk, individual.pk]


def test_list_customers_created_date_range(owner, org):
    old = CustomerFactory(organization=org)
    new = CustomerFactory(organization=org)
    Customer.objects.filter(pk=old.pk).update(
        created_at=timezone.make_aware(dt.datetime(2020, 1, 15))
    )
    today = timezone.now().date().isoformat()

    after = owner.client.get(URL, {"created_after": "2021-01-01"})
    before = owner.client.get(URL, {"created_before": "2020-01-15"})
    both = owner.client.get(URL, {"created_after": "2020-01-01", "created_before": today})

    assert [row["id"] for row in after.data["results"]] == [new.pk]
    assert [row["id"] for row in before.data["results"]] == [old.pk]
    assert [row["id"] for row in both.data["results"]] == [old.pk, new.pk]


@pytest.mark.parametrize(
    "query",
    [
        {"status": "zzz"},
        {"customer_type": "alien"},
        {"assigned_to": "abc"},
        {"assigned_to": "99999999999999999999999"},
        {"organization": "abc"},
        {"created_after": "yesterday"},
        {"priority": "high"},
        {"ordering": "assigned_to__user__password"},
    ],
)
def test_list_customers_bad_query_is_400(owner, org, query):
    CustomerFactory(organization=org)

    response = owner.client.get(URL, query)

    assert response.status_code == 400
    assert response.data["error"] == "An error occurred"
    assert list(response.data["details"]) == [next(iter(query))]


def test_list_customers_foreign_organization_filter_is_empty(owner, org, other_org):
    CustomerFactory(organization=org)
    CustomerFactory(organization=other_org)

    response = owner.client.get(URL, {"organization": other_org.pk})

    assert response.status_code == 200
    assert response.data["count"] == 0


def test_search_customers_matches_whole_text_over_contract_fields(owner, org):
    john = CustomerFactory(organization=org, name="John Smith", email="js@example.com")
    acme = CustomerFactory(organization=org, company_name="ACME Corp", email="x@example.com")
    mail = CustomerFactory(organization=org, email="smith.mail@example.com")

    def ids(text):
        return [row["id"] for row in owner.client.get(URL, {"search": text}).data["results"]]

    assert ids("john smith") == [john.pk]
    assert ids("smith acme") == []
    assert ids("acme") == [acme.pk]
    assert ids("SMITH") == [john.pk, mail.pk]


def test_order_customers_by_public_names(owner, org):
    b = CustomerFactory(organization=org, name="Bravo")
    a = CustomerFactory(organization=org, name="Alpha")
    c = CustomerFactory(organization=org, name="Charlie", customer_type="business")

    by_name = owner.client.get(URL, {"ordering": "-name"})
    by_type = owner.client.get(URL, {"ordering": "customer_type,name"})

    assert [row["id"] for row in by_name.data["results"]] == [c.pk, b.pk, a.pk]
    assert [row["id"] for row in by_type.data["results"]] == [c.pk, a.pk, b.pk]


def test_no_role_cannot_list_customers(no_role, org):
    CustomerFactory(organization=org)

    response = no_role.client.get(URL)

    assert response.status_code == 403


def test_list_customers_query_count_is_constant(owner, org):
    boss = EmployeeFactory(organization=org)
    rep = EmployeeFactory(organization=org, manager=boss)
    CustomerFactory(organization=org, assigned_to=rep)

    with CaptureQueriesContext(connection) as one_row:
        first = owner.client.get(URL)
    for _ in range(49):
        CustomerFactory(organization=org, assigned_to=EmployeeFactory(organization=org))
    with CaptureQueriesContext(connection) as fifty_rows:
        second = owner.client.get(URL, {"page_size": 100})

    assert (first.data["count"], len(second.data["results"])) == (1, 50)
    assert len(fifty_rows) == len(one_row)
    # auth + access + one lookup is what a missing detail costs; the list adds only COUNT + page
    assert len(one_row) == queries_for_missing_detail(owner) + 1


# --- retrieve, update, delete ----------------------------------------------------------------


def test_retrieve_customer_detail_with_source_lead(owner, org):
    lead = LeadFactory(organization=org, name="Lead Jane")
    now = timezone.now()
    customer = CustomerFactory(
        organization=org, converted_from_lead=lead, converted_at=now, credit_limit="12.5"
    )

    response = owner.client.get(detail_url(customer.pk))

    assert response.status_code == 200
    body = response.json()
    assert list(body) == DETAIL_KEYS
    assert body["converted_from_lead"] == {"id": lead.pk, "name": "Lead Jane"}
    assert body["converted_at"] == now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert body["credit_limit"] == "12.50"
    assert body["assigned_to"] is None


def test_list_filters_and_search_do_not_narrow_the_detail_route(owner, org):
    customer = CustomerFactory(organization=org, name="Active one")

    response = owner.client.get(detail_url(customer.pk), {"status": "inactive", "search": "zzz"})

    assert response.status_code == 200
    assert response.data["id"] == customer.pk


def test_retrieve_customer_of_another_organization_is_404(owner, other_org):
    foreign = CustomerFactory(organization=other_org)

    response = owner.client.get(detail_url(foreign.pk))

    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "details": "No Customer matches the given query.",
        "status_code": 404,
    }


def test_patch_customer_changes_assignee(sales, org):
    old_rep = EmployeeFactory(organization=org)
    new_rep = EmployeeFactory(organization=org)
    customer = CustomerFactory(organization=org, assigned_to=old_rep)

    response = sales.client.patch(
        detail_url(customer.pk), {"assigned_to_id": new_rep.pk, "zip_code": "10115"}
    )

    assert response.status_code == 200, response.data
    assert list(response.json()) == DETAIL_KEYS
    assert response.data["assigned_to_id"] == new_rep.pk
    assert response.data["assigned_to"]["id"] == new_rep.pk
    assert response.data["zip_code"] == "10115"
    customer.refresh_from_db()
    assert (customer.assigned_to_id, customer.postal_code) == (new_rep.pk, "10115")


def test_patch_customer_can_clear_assignee(owner, org):
    customer = CustomerFactory(organization=org, assigned_to=EmployeeFactory(organization=org))

    response = owner.client.patch(detail_url(customer.pk), {"assigned_to_id": None})

    assert response.status_code == 200
    assert (response.data["assigned_to"], response.data["assigned_to_id"]) == (None, None)
    customer.refresh_from_db()
    assert customer.assigned_to_id is None


def test_put_customer_replaces_writable_fields(owner, org):
    customer = CustomerFactory(organization=org, name="Old", notes="keep?")

    response = owner.client.put(
        detail_url(customer.pk),
        {"name": "New", "email": "new@example.com", "customer_type": "business", "notes": None},
    )

    assert response.status_code == 200, response.data
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.customer_type, customer.notes) == (
        "New",
        "new@example.com",
        "business",
        None,
    )
    assert response.data["code"] == customer.code


def test_update_customer_with_foreign_assignee_is_400_and_unchanged(owner, org, other_org):
    customer = CustomerFactory(organization=org)
    foreign = EmployeeFactory(organization=other_org)

    response = owner.client.patch(detail_url(customer.pk), {"assigned_to_id": foreign.pk})

    assert response.status_code == 400
    assert list(response.data["details"]) == ["assigned_to_id"]
    customer.refresh_from_db()
    assert customer.assigned_to_id is None


def test_update_customer_cannot_move_it_to_another_organization(owner, org, other_org):
    make_owner_of_both = other_org.user_organizations.create(user=owner.user, is_owner=True)
    assert make_owner_of_both.pk
    customer = CustomerFactory(organization=org)

    response = owner.client.patch(detail_url(customer.pk), {"organization": other_org.pk})

    assert response.status_code == 400
    assert response.data["details"] == {
        "organization": ["The organization of a record cannot be changed."]
    }
    customer.refresh_from_db()
    assert customer.organization_id == org.pk


def test_update_customer_read_only_fields_are_ignored(owner, org):
    customer = CustomerFactory(organization=org)

    response = owner.client.patch(
        detail_url(customer.pk), {"code": "HACK", "converted_at": "2020-01-01T00:00:00Z"}
    )

    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.code, customer.converted_at) == ("CUS-000001", None)


def test_update_customer_of_another_organization_is_404(owner, other_org):
    foreign = CustomerFactory(organization=other_org, name="Theirs")

    response = owner.client.patch(detail_url(foreign.pk), {"name": "Mine"})

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"


def test_viewer_cannot_update_customer(viewer, org):
    customer = CustomerFactory(organization=org, name="Same")

    response = viewer.client.patch(detail_url(customer.pk), {"name": "Changed"})

    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.name == "Same"


def test_delete_customer(manager, org):
    customer = CustomerFactory(organization=org)

    response = manager.client.delete(detail_url(customer.pk))

    assert response.status_code == 204
    assert not Customer.objects.filter(pk=customer.pk).exists()


@pytest.mark.parametrize("member", ["viewer", "sales"])
def test_roles_without_delete_cannot_delete_customer(request, org, member):
    client = request.getfixturevalue(member).client
    customer = CustomerFactory(organization=org)

    response = client.delete(detail_url(customer.pk))

    assert response.status_code == 403
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_delete_customer_of_another_organization_is_404(owner, other_org):
    foreign = CustomerFactory(organization=other_org)

    response = owner.client.delete(detail_url(foreign.pk))

    assert response.status_code == 404
    assert Customer.objects.filter(pk=foreign.pk).exists()


# --- actions -------------------------------------------------------------------------------------


def test_deactivate_then_activate_customer(sales, org):
    customer = CustomerFactory(organization=org)

    off = sales.client.post(detail_url(customer.pk) + "deactivate/")
    customer.refresh_from_db()
    status_after_off = customer.status
    on = sales.client.post(detail_url(customer.pk) + "activate/")
    again = sales.client.post(detail_url(customer.pk) + "activate/")

    assert off.status_code == 200
    assert off.data["message"] == "Customer deactivated successfully."
    assert off.data["customer"]["status"] == "inactive"
    assert list(off.json()["customer"]) == DETAIL_KEYS
    assert status_after_off == "inactive"
    assert on.status_code == 200
    assert on.data == {
        "message": "Customer activated successfully.",
        "customer": on.data["customer"],
    }
    assert on.data["customer"]["status"] == "active"
    assert again.status_code == 200
    customer.refresh_from_db()
    assert customer.status == "active"


@pytest.mark.parametrize("action", ["activate", "deactivate"])
def test_status_actions_on_another_organization_are_404(owner, other_org, action):
    before = "inactive" if action == "activate" else "active"
    foreign = CustomerFactory(organization=other_org, status=before)

    response = owner.client.post(detail_url(foreign.pk) + f"{action}/")

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == before


def test_viewer_cannot_deactivate_customer(viewer, org):
    customer = CustomerFactory(organization=org)

    response = viewer.client.post(detail_url(customer.pk) + "deactivate/")

    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.status == "active"


# --- stats ---------------------------------------------------------------------------------------


def test_customer_stats(owner, org, other_org):
    CustomerFactory(organization=org, customer_type="business")
    CustomerFactory(organization=org, customer_type="business", status="inactive")
    CustomerFactory(organization=org)
    CustomerFactory(organization=other_org)

    response = owner.client.get(URL + "stats/")

    assert response.status_code == 200
    assert response.json() == {
        "total": 3,
        "active": 2,
        "inactive": 1,
        "by_type": {"individual": 1, "business": 2},
    }


def test_customer_stats_honour_organization_narrowing(owner, org, other_org):
    other_org.user_organizations.create(user=owner.user, is_owner=True)
    CustomerFactory(organization=org)
    CustomerFactory(organization=other_org, customer_type="business")

    both = owner.client.get(URL + "stats/")
    narrowed = owner.client.get(URL + "stats/", {"organization": other_org.pk})
    header = owner.client.get(URL + "stats/", HTTP_X_ORGANIZATION_ID=str(org.pk))

    assert both.data["total"] == 2
    assert narrowed.json() == {
        "total": 1,
        "active": 1,
        "inactive": 0,
        "by_type": {"individual": 0, "business": 1},
    }
    assert header.data["by_type"] == {"individual": 1, "business": 0}


def test_customer_stats_empty(owner):
    response = owner.client.get(URL + "stats/")

    assert response.json() == {
        "total": 0,
        "active": 0,
        "inactive": 0,
        "by_type": {"individual": 0, "business": 0},
    }


def test_customer_stats_query_count_is_constant(owner, org):
    CustomerFactory(organization=org)
    with CaptureQueriesContext(connection) as few:
        owner.client.get(URL + "stats/")
    for index in range(20):
        CustomerFactory(organization=org, customer_type=("business", "individual")[index % 2])
    with CaptureQueriesContext(connection) as many:
        owner.client.get(URL + "stats/")

    assert len(many) == len(few)
    assert len(few) == queries_for_missing_detail(owner)  # auth + access + one aggregate


def test_no_role_cannot_read_customer_stats(no_role):
    assert no_role.client.get(URL + "stats/").status_code == 403
