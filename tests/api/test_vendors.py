"""Vendors: CRUD, filters, types, tenancy, permissions and query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import Vendor
from tests.factories import MembershipFactory, VendorFactory

pytestmark = pytest.mark.django_db

URL = "/api/vendors/"


def detail_url(vendor: Vendor) -> str:
    return f"{URL}{vendor.pk}/"


def list_item(vendor: Vendor) -> dict:
    return {
        "id": vendor.pk,
        "code": vendor.code,
        "name": vendor.name,
        "email": vendor.email,
        "phone": vendor.phone,
        "vendor_type": vendor.vendor_type,
        "status": vendor.status,
    }


def snapshot(vendor: Vendor) -> dict:
    vendor.refresh_from_db()
    return {field.attname: getattr(vendor, field.attname) for field in Vendor._meta.concrete_fields}


FULL_BODY = {
    "name": "Initech Supplies",
    "contact_person": "Bill Lumbergh",
    "email": "orders@initech.example",
    "phone": "+1 555 0199",
    "website": "https://initech.example",
    "vendor_type": "service_provider",
    "status": "inactive",
    "payment_terms": "Net 30",
    "tax_id": "US-123",
    "credit_limit": "15000.5",
    "address": "2 Office Park",
    "city": "Austin",
    "state": "TX",
    "zip_code": "73301",
    "country": "US",
    "notes": "Staplers.",
}


# --- create ---------------------------------------------------------------------------------


def test_create_answers_the_detail(manager, org):
    response = manager.client.post(URL, {"organization": org.pk, **FULL_BODY}, format="json")

    assert response.status_code == 201, response.data
    created = Vendor.objects.get()
    data = response.json()
    assert data.pop("created_at").endswith("Z")
    assert data.pop("updated_at").endswith("Z")
    assert data == {
        "id": created.pk,
        "organization": org.pk,
        "code": created.code,
        **FULL_BODY,
        "credit_limit": "15000.50",
    }
    assert list(data)[:4] == ["id", "organization", "code", "name"]
    assert created.code.startswith("VEN-")
    assert created.postal_code == "73301"


def test_create_applies_defaults(owner, org):
    response = owner.client.post(URL, {"name": "Acme", "email": "a@acme.example"}, format="json")

    assert response.status_code == 201
    data = response.json()
    assert data["organization"] == org.pk
    assert data["vendor_type"] == "supplier"
    assert data["status"] == "active"
    assert data["credit_limit"] is None and data["zip_code"] is None


def test_create_requires_name_and_email(owner, org):
    response = owner.client.post(URL, {"organization": org.pk}, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == {
        "name": ["This field is required."],
        "email": ["This field is required."],
    }
    assert Vendor.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "nope", "Enter a valid email address."),
        ("website", "not a url", "Enter a valid URL."),
        ("vendor_type", "partner", '"partner" is not a valid choice.'),
        ("status", "closed", '"closed" is not a valid choice.'),
        ("credit_limit", "-0.01", "Ensure this value is greater than or equal to 0."),
        ("credit_limit", "1e20", "Ensure that there are no more than 12 digits in total."),
        ("credit_limit", "lots", "A valid number is required."),
        ("name", "x" * 256, "Ensure this field has no more than 255 characters."),
    ],
)
def test_create_rejects_bad_values(owner, org, field, value, message):
    body = {"organization": org.pk, "name": "Acme", "email": "a@acme.example", field: value}

    response = owner.client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == {field: [message]}
    assert Vendor.objects.count() == 0


def test_create_in_another_organization_is_400(owner, other_org):
    response = owner.client.post(
        URL, {"organization": other_org.pk, "name": "X", "email": "x@x.io"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["organization"]
    assert Vendor.objects.count() == 0


def test_create_with_a_non_numeric_organization_is_400(owner):
    response = owner.client.post(
        URL, {"organization": "abc", "name": "X", "email": "x@x.io"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["organization"]


# --- retrieve, update, delete ---------------------------------------------------------------


def test_retrieve_answers_the_detail(viewer, org):
    vendor = VendorFactory(organization=org, credit_limit=100, postal_code="999")

    response = viewer.client.get(detail_url(vendor))

    assert response.status_code == 200
    assert response.json()["id"] == vendor.pk
    assert response.json()["credit_limit"] == "100.00"
    assert response.json()["zip_code"] == "999"


def test_patch_updates_and_answers_the_detail(manager, org):
    vendor = VendorFactory(organization=org)

    response = manager.client.patch(
        detail_url(vendor), {"vendor_type": "consultant", "zip_code": "10001"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["vendor_type"] == "consultant"
    assert response.json()["zip_code"] == "10001"
    assert response.json()["code"] == vendor.code
    vendor.refresh_from_db()
    assert vendor.vendor_type == "consultant" and vendor.postal_code == "10001"


def test_put_replaces_the_writable_fields(manager, org):
    vendor = VendorFactory(organization=org, notes="old")

    response = manager.client.put(detail_url(vendor), FULL_BODY, format="json")

    assert response.status_code == 200
    data = response.json()
    assert {key: data[key] for key in FULL_BODY} == {**FULL_BODY, "credit_limit": "15000.50"}


def test_code_is_read_only(manager, org):
    vendor = VendorFactory(organization=org)
    code = vendor.code

    response = manager.client.patch(detail_url(vendor), {"code": "HACK-1"}, format="json")

    assert response.status_code == 200
    assert response.json()["code"] == code
    vendor.refresh_from_db()
    assert vendor.code == code


def test_update_cannot_move_the_vendor_to_another_organization(owner, org, other_org):
    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)
    vendor = VendorFactory(organization=org)

    response = owner.client.patch(detail_url(vendor), {"organization": other_org.pk}, format="json")

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["organization"]
    vendor.refresh_from_db()
    assert vendor.organization_id == org.pk


def test_negative_credit_limit_on_update_changes_nothing(manager, org):
    vendor = VendorFactory(organization=org, credit_limit=10)
    before = snapshot(vendor)

    response = manager.client.patch(detail_url(vendor), {"credit_limit": -5}, format="json")

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["credit_limit"]
    assert snapshot(vendor) == before


def test_delete_removes_the_vendor(manager, org):
    vendor = VendorFactory(organization=org)

    response = manager.client.delete(detail_url(vendor))

    assert response.status_code == 204
    assert not Vendor.objects.filter(pk=vendor.pk).exists()


# --- list, filters, search, ordering --------------------------------------------------------


def test_list_answers_list_items_in_id_order(viewer, org, other_org):
    first = VendorFactory(organization=org, phone="1")
    second = VendorFactory(organization=org, vendor_type="contractor")
    VendorFactory(organization=other_org)

    response = viewer.client.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [list_item(first), list_item(second)],
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=inactive", ["old"]),
        ("vendor_type=contractor", ["builders", "old"]),
        ("vendor_type=contractor&status=active", ["builders"]),
        ("search=PAPER", ["paper"]),
        ("search=jane doe", ["builders"]),
        ("search=@old.example", ["old"]),
        ("search=doe jane", []),
        ("ordering=name", ["builders", "old", "paper"]),
        ("ordering=-vendor_type,name", ["paper", "builders", "old"]),
        ("ordering=-code", ["old", "builders", "paper"]),
    ],
)
def test_list_filters_search_and_ordering(viewer, org, query, expected):
    vendors = {
        "paper": VendorFactory(organization=org, name="Paper Co", vendor_type="supplier"),
        "builders": VendorFactory(
            organization=org,
            name="Builders Ltd",
            vendor_type="contractor",
            contact_person="Jane Doe",
        ),
        "old": VendorFactory(
            organization=org,
            name="Old Partner",
            vendor_type="contractor",
            status="inactive",
            email="info@old.example",
        ),
    }
    names = {vendor.pk: name for name, vendor in vendors.items()}

    response = viewer.client.get(f"{URL}?{query}")

    assert response.status_code == 200
    assert [names[row["id"]] for row in response.json()["results"]] == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("vendor_type=partner", "vendor_type"),
        ("status=zzz", "status"),
        ("organization=1.5", "organization"),
        ("ordering=credit_limit", "ordering"),
        ("type=supplier", "type"),
    ],
)
def test_list_rejects_bad_parameters(viewer, org, query, field):
    response = viewer.client.get(f"{URL}?{query}")

    assert response.status_code == 400
    assert list(response.json()["details"]) == [field]


def test_list_narrowed_to_another_organization_is_empty(owner, org, other_org):
    VendorFactory(organization=org)
    VendorFactory(organization=other_org)

    response = owner.client.get(f"{URL}?organization={other_org.pk}")

    assert response.status_code == 200
    assert response.json()["count"] == 0


# --- types ----------------------------------------------------------------------------------


def test_types_lists_the_types_in_use_in_my_organizations_sorted(viewer, org, other_org):
    VendorFactory(organization=org, vendor_type="supplier")
    VendorFactory(organization=org, vendor_type="contractor")
    VendorFactory(organization=org, vendor_type="supplier")
    VendorFactory(organization=other_org, vendor_type="consultant")

    response = viewer.client.get(f"{URL}types/")

    assert response.status_code == 200
    assert response.json() == ["contractor", "supplier"]


def test_types_honour_organization_narrowing(owner, org, other_org):
    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)
    VendorFactory(organization=org, vendor_type="supplier")
    VendorFactory(organization=other_org, vendor_type="consultant")

    everything = owner.client.get(f"{URL}types/")
    narrowed = owner.client.get(f"{URL}types/", HTTP_X_ORGANIZATION_ID=str(org.pk))

    assert everything.json() == ["consultant", "supplier"]
    assert narrowed.json() == ["supplier"]


def test_types_are_empty_without_vendors(viewer):
    response = viewer.client.get(f"{URL}types/")

    assert response.status_code == 200
    assert response.json() == []


# --- tenancy --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "patch", "put", "delete"])
def test_another_organizations_vendor_is_not_found(owner, other_org, method):
    foreign = VendorFactory(organization=other_org)
    before = snapshot(foreign)

    response = getattr(owner.client, method)(
        detail_url(foreign), {"name": "Hacked", "email": "h@h.io"}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "details": "No Vendor matches the given query.",
        "status_code": 404,
    }
    assert snapshot(foreign) == before


# --- permissions ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "sales"])
def test_readers_cannot_create(request, org, role):
    member = request.getfixturevalue(role)

    response = member.client.post(
        URL, {"organization": org.pk, "name": "X", "email": "x@x.io"}, format="json"
    )

    assert response.status_code == 403
    assert Vendor.objects.count() == 0


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_viewer_cannot_change_a_vendor(viewer, org, method):
    vendor = VendorFactory(organization=org)
    before = snapshot(vendor)

    response = getattr(viewer.client, method)(
        detail_url(vendor), {"name": "X", "email": "x@x.io"}, format="json"
    )

    assert response.status_code == 403
    assert snapshot(vendor) == before


def test_member_without_role_cannot_list(no_role, org):
    VendorFactory(organization=org)

    assert no_role.client.get(URL).status_code == 403
    assert no_role.client.get(f"{URL}types/").status_code == 403


def test_sales_can_read(sales, org):
    vendor = VendorFactory(organization=org)

    assert sales.client.get(URL).json()["count"] == 1
    assert sales.client.get(detail_url(vendor)).status_code == 200


# --- query counts ---------------------------------------------------------------------------


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_rows(viewer, org):
    VendorFactory(organization=org)
    few = count_queries(viewer.client, f"{URL}?page_size=100")
    VendorFactory.create_batch(49, organization=org)

    many = count_queries(viewer.client, f"{URL}?page_size=100")

    assert Vendor.objects.count() == 50
    assert few == many
