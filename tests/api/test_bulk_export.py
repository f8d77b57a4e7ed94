"""Bulk update, bulk delete and CSV export on customers and leads."""

import csv
import io

import pytest

from crmApp.models import Customer, Lead
from tests.factories import CustomerFactory, EmployeeFactory, LeadFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/customers/"
LEADS = "/api/leads/"


def statuses(model, *objs) -> list[str]:
    return [model.objects.get(pk=obj.pk).status for obj in objs]


def read_csv(response) -> list[list[str]]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(content)))


# --- bulk_update -------------------------------------------------------------------------------


def test_bulk_update_customers(sales, org):
    rep = EmployeeFactory(organization=org)
    first, second = CustomerFactory(organization=org), CustomerFactory(organization=org)
    untouched = CustomerFactory(organization=org)

    response = sales.client.post(
        CUSTOMERS + "bulk_update/",
        {
            "ids": [first.pk, second.pk, first.pk],
            "data": {
                "status": "inactive",
                "customer_type": "business",
                "assigned_to_id": rep.pk,
                "industry": "Energy",
                "source": "Fair",
                "tags": ["bulk"],
                "payment_terms": "Net 60",
            },
        },
    )

    assert response.status_code == 200, response.data
    assert response.json() == {"message": "2 items updated successfully", "count": 2}
    for customer in (first, second):
        customer.refresh_from_db()
        assert (
            customer.status,
            customer.customer_type,
            customer.assigned_to_id,
            customer.industry,
            customer.source,
            customer.tags,
            customer.payment_terms,
        ) == ("inactive", "business", rep.pk, "Energy", "Fair", ["bulk"], "Net 60")
    assert statuses(Customer, untouched) == ["active"]


def test_bulk_update_with_an_unknown_id_changes_nothing(owner, org):
    customer = CustomerFactory(organization=org)

    response = owner.client.post(
        CUSTOMERS + "bulk_update/",
        {"ids": [customer.pk, 987654], "data": {"status": "inactive"}},
    )

    assert response.status_code == 400
    assert response.data["details"]["errors"] == {"987654": ["Not found."]}
    assert statuses(Customer, customer) == ["active"]


def test_bulk_update_with_another_organizations_id_changes_nothing(owner, org, other_org):
    mine = CustomerFactory(organization=org)
    foreign = CustomerFactory(organization=other_org)

    response = owner.client.post(
        CUSTOMERS + "bulk_update/", {"ids": [mine.pk, foreign.pk], "data": {"status": "inactive"}}
    )

    assert response.status_code == 400
    assert response.data["details"]["errors"] == {str(foreign.pk): ["Not found."]}
    assert statuses(Customer, mine, foreign) == ["active", "active"]


def test_bulk_update_with_one_invalid_row_changes_nothing(owner, org):
    open_lead = LeadFactory(organization=org)
    converted = LeadFactory(organization=org, is_converted=True, qualification_status="converted")

    response = owner.client.post(
        LEADS + "bulk_update/",
        {"ids": [open_lead.pk, converted.pk], "data": {"qualification_status": "qualified"}},
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "errors": {
            str(converted.pk): {
                "qualification_status": [
                    "The qualification status of a converted lead cannot be changed."
                ]
            }
        }
    }
    open_lead.refresh_from_db()
    assert open_lead.qualification_status == "new"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"customer_type": "alien"}, "customer_type", '"alien" is not a valid choice.'),
        ({"tags": "vip"}, "tags", 'Expected a list of items but got type "str".'),
        (
            {"assigned_to_id": 987654},
            "assigned_to_id",
            'Invalid pk "987654" - object does not exist.',
        ),
    ],
)
def test_bulk_update_invalid_value_is_400_per_row(owner, org, data, field, message):
    customer = CustomerFactory(organization=org)

    response = owner.client.post(CUSTOMERS + "bulk_update/", {"ids": [customer.pk], "data": data})

    assert response.status_code == 400
    assert response.data["details"] == {"errors": {str(customer.pk): {field: [message]}}}
    customer.refresh_from_db()
    assert (customer.customer_type, customer.tags, customer.assigned_to_id) == (
        "individual",
        [],
        None,
    )


def test_bulk_update_with_foreign_assignee_changes_nothing(owner, org, other_org):
    customer = CustomerFactory(organization=org)
    foreign = EmployeeFactory(organization=other_org)

    response = owner.client.post(
        CUSTOMERS + "bulk_update/", {"ids": [customer.pk], "data": {"assigned_to_id": foreign.pk}}
    )

    assert response.status_code == 400
    assert list(response.data["details"]["errors"][str(customer.pk)]) == ["assigned_to_id"]
    customer.refresh_from_db()
    assert customer.assigned_to_id is None


@pytest.mark.parametrize(
    "data",
    [{"organization": "OTHER"}, {"name": "Renamed"}, {"status": "inactive", "code": "X"}],
)
def test_bulk_update_refuses_fields_outside_the_allow_list(owner, org, other_org, data):
    data = {k: (other_org.pk if v == "OTHER" else v) for k, v in data.items()}
    customer = CustomerFactory(organization=org, name="Same")

    response = owner.client.post(CUSTOMERS + "bulk_update/", {"ids": [customer.pk], "data": data})

    assert response.status_code == 400
    assert list(response.data["details"]) == ["data"]
    customer.refresh_from_db()
    assert (customer.organization_id, customer.name, customer.status, customer.code) == (
        org.pk,
        "Same",
        "active",
        "CUS-000001",
    )


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": [1]}, {"data": {"status": "inactive"}}, {"ids": [], "data": {"status": "x"}}],
)
def test_bulk_update_needs_ids_and_data(owner, body):
    response = owner.client.post(CUSTOMERS + "bulk_update/", body)

    assert response.status_code == 400
    assert response.data["details"] == {"non_field_errors": ["IDs and data are required"]}


@pytest.mark.parametrize("ids", [["abc"], [1.5], [True], "1,2", [[1]], [2**70]])
def test_bulk_update_bad_ids_are_400(owner, org, ids):
    customer = CustomerFactory(organization=org)

    response = owner.client.post(
        CUSTOMERS + "bulk_update/", {"ids": ids, "data": {"status": "inactive"}}
    )

    assert response.status_code == 400
    assert list(response.data["details"]) == ["ids"]
    assert statuses(Customer, customer) == ["active"]


def test_bulk_update_size_cap(owner, org, settings):
    settings.BULK_MAX_ITEMS = 2
    customers = [CustomerFactory(organization=org) for _ in range(3)]

    response = owner.client.post(
        CUSTOMERS + "bulk_update/",
        {"ids": [c.pk for c in customers], "data": {"status": "inactive"}},
    )

    assert response.status_code == 400
    assert response.data["details"] == {"ids": ["At most 2 ids per request."]}
    assert statuses(Customer, *customers) == ["active"] * 3


def test_viewer_cannot_bulk_update(viewer, org):
    customer = CustomerFactory(organization=org)

    response = viewer.client.post(
        CUSTOMERS + "bulk_update/", {"ids": [customer.pk], "data": {"status": "inactive"}}
    )

    assert response.status_code == 403
    assert statuses(Customer, customer) == ["active"]


def test_bulk_update_leads(sales, org):
    rep = EmployeeFactory(organization=org)
    leads = [LeadFactory(organization=org) for _ in range(2)]

    response = sales.client.post(
        LEADS + "bulk_update/",
        {
            "ids": [lead.pk for lead in leads],
            "data": {
                "status": "inactive",
                "qualification_status": "contacted",
                "source": "event",
                "assigned_to_id": rep.pk,
                "lead_score": 55,
                "tags": ["q3"],
            },
        },
    )

    assert response.status_code == 200, response.data
    assert response.data == {"message": "2 items updated successfully", "count": 2}
    assert (
        list(
            Lead.objects.order_by("id").values_list(
                "status", "qualification_status", "source", "assigned_to_id", "lead_score", "tags"
            )
        )
        == [("inactive", "contacted", "event", rep.pk, 55, ["q3"])] * 2
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"qualification_status": "converted"}, "qualification_status"),
        ({"lead_score": 101}, "lead_score"),
        ({"source": "tv"}, "source"),
    ],
)
def test_bulk_update_leads_invalid_values_change_nothing(owner, org, data, field):
    lead = LeadFactory(organization=org)

    response = owner.client.post(LEADS + "bulk_update/", {"ids": [lead.pk], "data": data})

    assert response.status_code == 400
    assert list(response.data["details"]["errors"][str(lead.pk)]) == [field]
    lead.refresh_from_db()
    assert (lead.qualification_status, lead.lead_score, lead.source) == ("new", 0, "website")


def test_bulk_update_leads_refuses_conversion_fields(owner, org):
    lead = LeadFactory(organization=org)

    response = owner.client.post(
        LEADS + "bulk_update/", {"ids": [lead.pk], "data": {"is_converted": True}}
    )

    assert response.status_code == 400
    lead.refresh_from_db()
    assert lead.is_converted is False


# --- bulk_delete -------------------------------------------------------------------------------


def test_bulk_delete_customers(manager, org):
    doomed = [CustomerFactory(organization=org) for _ in range(2)]
    kept = CustomerFactory(organization=org)

    response = manager.client.post(CUSTOMERS + "bulk_delete/", {"ids": [c.pk for c in doomed]})

    assert response.status_code == 200
    assert response.json() == {"message": "2 items deleted successfully", "count": 2}
    assert list(Customer.objects.values_list("pk", flat=True)) == [kept.pk]


def test_bulk_delete_with_foreign_or_unknown_id_deletes_nothing(owner, org, other_org):
    mine = CustomerFactory(organization=org)
    foreign = CustomerFactory(organization=other_org)

    foreign_response = owner.client.post(CUSTOMERS + "bulk_delete/", {"ids": [mine.pk, foreign.pk]})
    unknown_response = owner.client.post(CUSTOMERS + "bulk_delete/", {"ids": [mine.pk, 987654]})

    assert (foreign_response.status_code, unknown_response.status_code) == (400, 400)
    assert Customer.objects.count() == 2


@pytest.mark.parametrize("body", [{}, {"ids": []}, {"ids": "1"}])
def test_bulk_delete_needs_ids(owner, body):
    response = owner.client.post(CUSTOMERS + "bulk_delete/", body)

    assert response.status_code == 400
    assert response.data["details"] == {"ids": ["No IDs provided"]}


def test_bulk_delete_size_cap(owner, org, settings):
    settings.BULK_MAX_ITEMS = 1
    leads = [LeadFactory(organization=org) for _ in range(2)]

    response = owner.client.post(LEADS + "bulk_delete/", {"ids": [lead.pk for lead in leads]})

    assert response.status_code == 400
    assert Lead.objects.count() == 2


@pytest.mark.parametrize("member", ["viewer", "sales"])
def test_roles_without_delete_cannot_bulk_delete(request, org, member):
    client = request.getfixturevalue(member).client
    lead = LeadFactory(organization=org)

    response = client.post(LEADS + "bulk_delete/", {"ids": [lead.pk]})

    assert response.status_code == 403
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_bulk_delete_leads(owner, org):
    lead = LeadFactory(organization=org)

    response = owner.client.post(LEADS + "bulk_delete/", {"ids": [lead.pk]})

    assert response.data == {"message": "1 items deleted successfully", "count": 1}
    assert Lead.objects.count() == 0


# --- export_csv --------------------------------------------------------------------------------


def test_export_customers_csv(viewer, org, other_org):
    first = CustomerFactory(organization=org, name="Alpha", tags=["vip", "a,b"])
    second = CustomerFactory(organization=org, name="=HYPERLINK()", status="inactive")
    CustomerFactory(organization=other_org, name="Foreign")

    response = viewer.client.get(CUSTOMERS + "export_csv/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="customer_export.csv"'
    rows = read_csv(response)
    header = [field.name for field in Customer._meta.concrete_fields]
    assert rows[0] == header
    assert len(rows) == 3
    by_column = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert [row["id"] for row in by_column] == [str(first.pk), str(second.pk)]
    assert [row["name"] for row in by_column] == ["Alpha", "'=HYPERLINK()"]
    assert by_column[0]["organization"] == str(org.pk)
    assert by_column[0]["code"] == "CUS-000001"
    assert by_column[0]["tags"] == '["vip", "a,b"]'
    assert by_column[0]["assigned_to"] == ""


def test_export_customers_csv_respects_filters_search_and_ordering(owner, org):
    CustomerFactory(organization=org, name="Alpha")
    beta = CustomerFactory(organization=org, name="Beta", status="inactive")
    gamma = CustomerFactory(organization=org, name="Gamma", status="inactive")

    filtered = read_csv(owner.client.get(CUSTOMERS + "export_csv/", {"status": "inactive"}))
    searched = read_csv(owner.client.get(CUSTOMERS + "export_csv/", {"search": "gam"}))
    ordered = read_csv(owner.client.get(CUSTOMERS + "export_csv/", {"ordering": "-name"}))

    assert [row[0] for row in filtered[1:]] == [str(beta.pk), str(gamma.pk)]
    assert [row[0] for row in searched[1:]] == [str(gamma.pk)]
    assert [row[0] for row in ordered[1:3]] == [str(gamma.pk), str(beta.pk)]


@pytest.mark.parametrize("query", [{"status": "zzz"}, {"nope": "1"}, {"ordering": "mobile"}])
def test_export_customers_csv_bad_query_is_400(owner, query):
    response = owner.client.get(CUSTOMERS + "export_csv/", query)

    assert response.status_code == 400


def test_export_leads_csv(owner, org, other_org):
    converted = LeadFactory(organization=org, is_converted=True, qualification_status="converted")
    LeadFactory(organization=org)
    LeadFactory(organization=other_org, is_converted=True)

    response = owner.client.get(LEADS + "export_csv/", {"is_converted": "true"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="lead_export.csv"'
    rows = read_csv(response)
    assert rows[0] == [field.name for field in Lead._meta.concrete_fields]
    assert [row[0] for row in rows[1:]] == [str(converted.pk)]


def test_export_leads_csv_bad_boolean_is_400(owner):
    assert owner.client.get(LEADS + "export_csv/", {"is_converted": "maybe"}).status_code == 400


def test_no_role_cannot_export(no_role, org):
    CustomerFactory(organization=org)

    assert no_role.client.get(CUSTOMERS + "export_csv/").status_code == 403
    assert no_role.client.get(LEADS + "export_csv/").status_code == 403
