"""Employees: CRUD, filters, departments, terminate, tenancy, permissions and query counts."""

import datetime
from decimal import Decimal
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmApp.models import Employee
from tests.concurrency import run_concurrently
from tests.conftest import make_member
from tests.factories import EmployeeFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/employees/"
TIMESTAMPS = ("created_at", "updated_at")


def detail_url(employee: Employee) -> str:
    return f"{URL}{employee.pk}/"


def terminate_url(employee: Employee) -> str:
    return f"{URL}{employee.pk}/terminate/"


def without_timestamps(data: dict) -> dict:
    return {key: value for key, value in data.items() if key not in TIMESTAMPS}


def list_item(employee: Employee, manager_name: str | None = None) -> dict:
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


def snapshot(employee: Employee) -> dict:
    employee.refresh_from_db()
    return {
        field.attname: getattr(employee, field.attname) for field in Employee._meta.concrete_fields
    }


# --- create ---------------------------------------------------------------------------------


def test_create_answers_the_detail_with_user_and_manager(manager, org):
    boss = EmployeeFactory(organization=org, first_name="Ada", last_name="Boss", email="ada@x.io")
    linked = make_member(org).user
    body = {
        "organization": org.pk,
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@acme.example",
        "phone": "+1 555 0100",
        "department": "Engineering",
        "job_title": "Engineer",
        "employment_type": "contract",
        "hire_date": "2024-02-01",
        "salary": 85000,
        "commission_rate": "2.5",
        "address": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62701",
        "country": "US",
        "user_id": linked.pk,
        "manager_id": boss.pk,
    }

    response = manager.client.post(URL, body, format="json")

    assert response.status_code == 201, response.data
    created = Employee.objects.get(email="grace@acme.example")
    data = response.json()
    assert data["created_at"].endswith("Z") and data["updated_at"].endswith("Z")
    assert without_timestamps(data) == {
        "id": created.pk,
        "organization": org.pk,
        "user": {
            "id": linked.pk,
            "email": linked.email,
            "username": linked.username,
            "first_name": "",
            "last_name": "",
            "full_name": linked.username,
            "phone": None,
            "is_active": True,
            "is_verified": True,
            "is_staff": False,
            "two_factor_enabled": False,
            "last_login_at": data["user"]["last_login_at"],
            "email_verified_at": data["user"]["email_verified_at"],
            "created_at": data["user"]["created_at"],
            "updated_at": data["user"]["updated_at"],
        },
        "code": created.code,
        "first_name": "Grace",
        "last_name": "Hopper",
        "full_name": "Grace Hopper",
        "email": "grace@acme.example",
        "phone": "+1 555 0100",
        "department": "Engineering",
        "job_title": "Engineer",
        "employment_type": "contract",
        "hire_date": "2024-02-01",
        "termination_date": None,
        "status": "active",
        "salary": "85000.00",
        "commission_rate": "2.50",
        "manager": list_item(boss),
        "address": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62701",
        "country": "US",
        "user_id": linked.pk,
        "manager_id": boss.pk,
    }
    assert created.code.startswith("EMP-")
    assert created.postal_code == "62701"
    assert created.manager_id == boss.pk and created.user_id == linked.pk


def test_create_applies_defaults(owner, org):
    response = owner.client.post(
        URL,
        {"organization": org.pk, "first_name": "A", "last_name": "B", "email": "a@b.io"},
        format="json",
    )

    assert response.status_code == 201
    data = response.json()
    assert data["employment_type"] == "full_time"
    assert data["status"] == "active"
    assert data["user"] is None and data["manager"] is None
    assert data["user_id"] is None and data["manager_id"] is None
    assert data["salary"] is None and data["department"] is None


def test_create_without_organization_uses_the_only_membership(owner, org):
    response = owner.client.post(
        URL, {"first_name": "A", "last_name": "B", "email": "a@b.io"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["organization"] == org.pk


def test_create_requires_names_and_email(owner, org):
    response = owner.client.post(URL, {"organization": org.pk}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "An error occurred",
        "details": {
            "first_name": ["This field is required."],
            "last_name": ["This field is required."],
            "email": ["This field is required."],
        },
        "status_code": 400,
    }
    assert Employee.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "Enter a valid email address."),
        ("employment_type", "freelance", '"freelance" is not a valid choice.'),
        ("status", "fired", '"fired" is not a valid choice.'),
        (
            "hire_date",
            "2024-13-01",
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        ),
        ("salary", "-1", "Ensure this value is greater than or equal to 0."),
        ("salary", "abc", "A valid number is required."),
        ("salary", "1" * 13, "Ensure that there are no more than 12 digits in total."),
        ("commission_rate", "100.01", "Ensure this value is less than or equal to 100."),
        ("commission_rate", "-0.01", "Ensure this value is greater than or equal to 0."),
        ("manager_id", "abc", "Incorrect type. Expected pk value, received str."),
        ("manager_id", 999999, 'Invalid pk "999999" - object does not exist.'),
        ("user_id", 999999, 'Invalid pk "999999" - object does not exist.'),
        ("phone", "1" * 21, "Ensure this field has no more than 20 characters."),
    ],
)
def test_create_rejects_bad_values(owner, org, field, value, message):
    body = {"organization": org.pk, "first_name": "A", "last_name": "B", "email": "a@b.io"}
    body[field] = value

    response = owner.client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == {field: [message]}
    assert Employee.objects.count() == 0


def test_money_and_rate_accept_their_bounds(owner, org):
    response = owner.client.post(
        URL,
        {
            "organization": org.pk,
            "first_name": "A",
            "last_name": "B",
            "email": "a@b.io",
            "salary": "0",
            "commission_rate": 100,
        },
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["salary"] == "0.00"
    assert response.json()["commission_rate"] == "100.00"


def test_create_in_another_organization_is_400(owner, org, other_org):
    response = owner.client.post(
        URL,
        {"organization": other_org.pk, "first_name": "A", "last_name": "B", "email": "a@b.io"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["organization"]
    assert Employee.objects.count() == 0


def test_create_with_a_foreign_manager_is_400(owner, org, other_org):
    foreign = EmployeeFactory(organization=other_org)

    response = owner.client.post(
        URL,
        {
            "organization": org.pk,
            "first_name": "A",
            "last_name": "B",
            "email": "a@b.io",
            "manager_id": foreign.pk,
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["details"] == {
        "manager_id": [f'Invalid pk "{foreign.pk}" - object does not exist.']
    }
    assert Employee.objects.filter(organization=org).count() == 0


def test_create_with_a_manager_of_my_other_organization_is_400(owner, org, other_org):
    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)
    foreign = EmployeeFactory(organization=other_org)

    response = owner.client.post(
        URL,
        {
            "organization": org.pk,
            "first_name": "A",
            "last_name": "B",
            "email": "a@b.io",
            "manager_id": foreign.pk,
        },
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["manager_id"]


@pytest.mark.parametrize("who", ["outsider", "foreign_member", "inactive_member"])
def test_create_with_a_user_who_is_not_an_active_member_is_400(owner, org, other_org, who):
    if who == "outsider":
        user = UserFactory()
    elif who == "foreign_member":
        user = make_member(other_org).user
    else:
        user = UserFactory()
        MembershipFactory(user=user, organization=org, is_active=False)

    response = owner.client.post(
        URL,
        {
            "organization": org.pk,
            "first_name": "A",
            "last_name": "B",
            "email": "a@b.io",
            "user_id": user.pk,
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["details"] == {
        "user_id": [f'Invalid pk "{user.pk}" - object does not exist.']
    }
    assert Employee.objects.count() == 0


def test_create_with_a_member_of_both_my_organizations_checks_the_target(owner, org, other_org):
    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)
    only_other = make_member(other_org).user

    response = owner.client.post(
        URL,
        {
            "organization": org.pk,
            "first_name": "A",
            "last_name": "B",
            "email": "a@b.io",
            "user_id": only_other.pk,
        },
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["user_id"]


# --- retrieve, update, delete ---------------------------------------------------------------


def test_retrieve_nests_manager_with_its_own_manager_name(viewer, org):
    top = EmployeeFactory(organization=org, first_name="Top", last_name="Dog")
    middle = EmployeeFactory(organization=org, manager=top)
    employee = EmployeeFactory(organization=org, manager=middle)

    response = viewer.client.get(detail_url(employee))

    assert response.status_code == 200
    assert response.json()["manager"] == list_item(middle, manager_name="Top Dog")
    assert response.json()["manager_id"] == middle.pk
    assert response.json()["user"] is None


def test_patch_sets_manager_and_user(manager, org):
    employee = EmployeeFactory(organization=org)
    boss = EmployeeFactory(organization=org)
    linked = make_member(org).user

    response = manager.client.patch(
        detail_url(employee), {"manager_id": boss.pk, "user_id": linked.pk}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["manager"]["id"] == boss.pk
    assert response.json()["user"]["id"] == linked.pk
    assert response.json()["manager_id"] == boss.pk
    assert response.json()["user_id"] == linked.pk
    employee.refresh_from_db()
    assert (employee.manager_id, employee.user_id) == (boss.pk, linked.pk)


def test_patch_clears_manager_and_user_with_null(manager, org):
    linked = make_member(org).user
    employee = EmployeeFactory(
        organization=org, manager=EmployeeFactory(organization=org), user=linked
    )

    response = manager.client.patch(
        detail_url(employee), {"manager_id": None, "user_id": None}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["manager"] is None and response.json()["user"] is None
    employee.refresh_from_db()
    assert employee.manager_id is None and employee.user_id is None


def test_put_replaces_writable_fields(manager, org):
    employee = EmployeeFactory(organization=org, job_title="Old")
    boss = EmployeeFactory(organization=org)

    response = manager.client.put(
        detail_url(employee),
        {
            "first_name": "New",
            "last_name": "Name",
            "email": "new@acme.example",
            "job_title": "Lead",
            "employment_type": "part_time",
            "hire_date": "2023-01-01",
            "termination_date": None,
            "status": "active",
            "salary": "1000.5",
            "manager_id": boss.pk,
            "zip_code": "12345",
        },
        format="json",
    )

    assert response.status_code == 200, response.data
    data = response.json()
    assert data["id"] == employee.pk
    assert data["full_name"] == "New Name"
    assert data["job_title"] == "Lead"
    assert data["employment_type"] == "part_time"
    assert data["salary"] == "1000.50"
    assert data["zip_code"] == "12345"
    assert data["manager_id"] == boss.pk
    employee.refresh_from_db()
    assert employee.first_name == "New" and employee.postal_code == "12345"


def test_manager_cannot_be_the_employee_itself(manager, org):
    employee = EmployeeFactory(organization=org)
    before = snapshot(employee)

    response = manager.client.patch(
        detail_url(employee), {"manager_id": employee.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["details"] == {
        "manager_id": ["An employee cannot be their own manager."]
    }
    assert snapshot(employee) == before


def test_manager_cannot_be_one_of_the_employees_reports(manager, org):
    top = EmployeeFactory(organization=org)
    middle = EmployeeFactory(organization=org, manager=top)
    bottom = EmployeeFactory(organization=org, manager=middle)

    response = manager.client.patch(detail_url(top), {"manager_id": bottom.pk}, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == {
        "manager_id": ["An employee cannot report to one of their own reports."]
    }
    top.refresh_from_db()
    assert top.manager_id is None


def test_update_with_a_foreign_manager_or_user_is_400(manager, org, other_org):
    employee = EmployeeFactory(organization=org)
    foreign_employee = EmployeeFactory(organization=other_org)
    foreign_user = make_member(other_org).user
    before = snapshot(employee)

    response = manager.client.patch(
        detail_url(employee),
        {"manager_id": foreign_employee.pk, "user_id": foreign_user.pk},
        format="json",
    )

    assert response.status_code == 400
    assert sorted(response.json()["details"]) == ["manager_id", "user_id"]
    assert snapshot(employee) == before


def test_update_cannot_move_the_employee_to_another_organization(owner, org, other_org):
    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)
    employee = EmployeeFactory(organization=org)

    response = owner.client.patch(
        detail_url(employee), {"organization": other_org.pk}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["organization"]
    employee.refresh_from_db()
    assert employee.organization_id == org.pk


def test_termination_date_before_hire_date_is_400_on_update(manager, org):
    employee = EmployeeFactory(organization=org, hire_date=datetime.date(2024, 5, 1))

    response = manager.client.patch(
        detail_url(employee), {"termination_date": "2024-04-30"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["termination_date"]
    employee.refresh_from_db()
    assert employee.termination_date is None


def test_delete_removes_the_employee_and_frees_its_reports(manager, org):
    boss = EmployeeFactory(organization=org)
    report = EmployeeFactory(organization=org, manager=boss)

    response = manager.client.delete(detail_url(boss))

    assert response.status_code == 204
    assert not Employee.objects.filter(pk=boss.pk).exists()
    report.refresh_from_db()
    assert report.manager_id is None


# --- list, filters, search, ordering --------------------------------------------------------


def test_list_answers_list_items_in_id_order(viewer, org, other_org):
    boss = EmployeeFactory(organization=org, first_name="Ada", last_name="Boss")
    report = EmployeeFactory(organization=org, manager=boss, phone="123", job_title="Dev")
    EmployeeFactory(organization=other_org)

    response = viewer.client.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [list_item(boss), list_item(report, manager_name="Ada Boss")],
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=inactive", ["gone"]),
        ("department=Sales", ["ann", "gone"]),
        ("employment_type=intern", ["bob"]),
        ("manager={boss}", ["bob"]),
        ("search=ANN@", ["ann"]),
        ("search=bob builder", []),
        ("search=BUILD", ["bob"]),
        ("search=builder bob", []),
        ("ordering=-email", ["gone", "boss", "bob", "ann"]),
        ("ordering=department,-id", ["boss", "gone", "ann", "bob"]),
    ],
)
def test_list_filters_search_and_ordering(viewer, org, query, expected):
    people = {
        "ann": EmployeeFactory(organization=org, email="ann@x.io", department="Sales"),
        "boss": EmployeeFactory(organization=org, email="boss@x.io", department="Board"),
    }
    people["bob"] = EmployeeFactory(
        organization=org,
        first_name="Bob",
        last_name="Builder",
        email="bob@x.io",
        department="Support",
        employment_type="intern",
        manager=people["boss"],
    )
    people["gone"] = EmployeeFactory(
        organization=org, email="gone@x.io", department="Sales", status="inactive"
    )
    names = {employee.pk: name for name, employee in people.items()}

    response = viewer.client.get(f"{URL}?{query.format(boss=people['boss'].pk)}")

    assert response.status_code == 200
    assert [names[row["id"]] for row in response.json()["results"]] == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=zzz", "status"),
        ("employment_type=zzz", "employment_type"),
        ("manager=abc", "manager"),
        ("manager=-1", "manager"),
        ("organization=abc", "organization"),
        ("ordering=salary", "ordering"),
        ("ordering=manager_name", "ordering"),
        ("colour=blue", "colour"),
    ],
)
def test_list_rejects_bad_parameters(viewer, org, query, field):
    EmployeeFactory(organization=org)

    response = viewer.client.get(f"{URL}?{query}")

    assert response.status_code == 400
    assert list(response.json()["details"]) == [field]


def test_list_narrowed_to_another_organization_is_empty(owner, org, other_org):
    EmployeeFactory(organization=org)
    EmployeeFactory(organization=other_org)

    response = owner.client.get(f"{URL}?organization={other_org.pk}")

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_list_spans_all_my_organizations_unless_narrowed(owner, org, other_org):
    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)
    mine = EmployeeFactory(organization=org)
    theirs = EmployeeFactory(organization=other_org)

    everything = owner.client.get(URL)
    narrowed = owner.client.get(URL, HTTP_X_ORGANIZATION_ID=str(other_org.pk))

    assert [row["id"] for row in everything.json()["results"]] == [mine.pk, theirs.pk]
    assert [row["id"] for row in narrowed.json()["results"]] == [theirs.pk]


# --- departments ----------------------------------------------------------------------------


def test_departments_are_sorted_distinct_and_non_empty(viewer, org, other_org):
    for department in ["Sales", "Engineering", "Sales", "", None, "Accounting"]:
        EmployeeFactory(organization=org, department=department)
    EmployeeFactory(organization=other_org, department="Secret")

    response = viewer.client.get(f"{URL}departments/")

    assert response.status_code == 200
    assert response.json() == ["Accounting", "Engineering", "Sales"]


def test_departments_honour_organization_narrowing(owner, org, other_org):
    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)
    EmployeeFactory(organization=org, department="Sales")
    EmployeeFactory(organization=other_org, department="Legal")

    everything = owner.client.get(f"{URL}departments/")
    narrowed = owner.client.get(f"{URL}departments/?organization={other_org.pk}")

    assert everything.json() == ["Legal", "Sales"]
    assert narrowed.json() == ["Legal"]


def test_blank_department_is_stored_as_null(owner, org):
    response = owner.client.post(
        URL,
        {"first_name": "A", "last_name": "B", "email": "a@b.io", "department": "  "},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["department"] is None


# --- terminate ------------------------------------------------------------------------------


def test_terminate_with_a_date(manager, org):
    employee = EmployeeFactory(organization=org, hire_date=datetime.date(2020, 1, 1))

    response = manager.client.post(
        terminate_url(employee), {"termination_date": "2025-06-30"}, format="json"
    )

    assert response.status_code == 200
    data = response.json()
    assert data["message"] == "Employee terminated successfully."
    assert data["employee"]["id"] == employee.pk
    assert data["employee"]["status"] == "inactive"
    assert data["employee"]["termination_date"] == "2025-06-30"
    employee.refresh_from_db()
    assert employee.status == "inactive"
    assert employee.termination_date == datetime.date(2025, 6, 30)


def test_terminate_without_a_date_uses_today(manager, org):
    employee = EmployeeFactory(organization=org)

    response = manager.client.post(terminate_url(employee), {}, format="json")

    assert response.status_code == 200
    today = timezone.now().date()
    assert response.json()["employee"]["termination_date"] == today.isoformat()
    employee.refresh_from_db()
    assert employee.termination_date == today


def test_terminate_of_an_inactive_employee_without_date_works(manager, org):
    employee = EmployeeFactory(organization=org, status="inactive")

    response = manager.client.post(
        terminate_url(employee), {"termination_date": "2025-01-02"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["employee"]["termination_date"] == "2025-01-02"


def test_terminate_twice_is_400(manager, org):
    employee = EmployeeFactory(organization=org)
    manager.client.post(terminate_url(employee), {"termination_date": "2025-01-01"}, format="json")

    response = manager.client.post(
        terminate_url(employee), {"termination_date": "2025-02-01"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "Validation Error",
        "details": {"non_field_errors": ["Employee is already terminated."]},
        "status_code": 400,
    }
    employee.refresh_from_db()
    assert employee.termination_date == datetime.date(2025, 1, 1)


@pytest.mark.parametrize("value", ["2025-02-30", "yesterday", 20250101, "2025-01-01T10:00:00"])
def test_terminate_with_a_malformed_date_is_400(manager, org, value):
    employee = EmployeeFactory(organization=org)

    response = manager.client.post(
        terminate_url(employee), {"termination_date": value}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Validation Error"
    assert list(body["details"]) == ["termination_date"]
    assert isinstance(body["details"]["termination_date"], list)
    employee.refresh_from_db()
    assert employee.status == "active" and employee.termination_date is None


def test_terminate_before_the_hire_date_is_400(manager, org):
    employee = EmployeeFactory(organization=org, hire_date=datetime.date(2025, 3, 1))

    response = manager.client.post(
        terminate_url(employee), {"termination_date": "2025-02-28"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["details"] == {
        "termination_date": ["The termination date cannot be before the hire date."]
    }
    employee.refresh_from_db()
    assert employee.status == "active" and employee.termination_date is None


# --- tenancy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("patch", ""),
        ("put", ""),
        ("delete", ""),
        ("post", "terminate/"),
    ],
)
def test_another_organizations_employee_is_not_found(owner, other_org, method, suffix):
    foreign = EmployeeFactory(organization=other_org)
    before = snapshot(foreign)

    response = getattr(owner.client, method)(
        f"{detail_url(foreign)}{suffix}", {"first_name": "Hacked"}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "details": "No Employee matches the given query.",
        "status_code": 404,
    }
    assert snapshot(foreign) == before


def test_non_numeric_id_is_404(owner):
    response = owner.client.get(f"{URL}abc/")

    assert response.status_code == 404


# --- permissions ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "sales"])
def test_readers_cannot_create(request, org, role):
    member = request.getfixturevalue(role)

    response = member.client.post(
        URL,
        {"organization": org.pk, "first_name": "A", "last_name": "B", "email": "a@b.io"},
        format="json",
    )

    assert response.status_code == 403
    assert Employee.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("patch", ""), ("put", ""), ("delete", ""), ("post", "terminate/")],
)
def test_viewer_cannot_change_an_employee(viewer, org, method, suffix):
    employee = EmployeeFactory(organization=org)
    before = snapshot(employee)

    response = getattr(viewer.client, method)(
        f"{detail_url(employee)}{suffix}",
        {"first_name": "X", "last_name": "Y", "email": "x@y.io"},
        format="json",
    )

    assert response.status_code == 403
    assert snapshot(employee) == before


def test_member_without_role_cannot_list(no_role, org):
    EmployeeFactory(organization=org)

    assert no_role.client.get(URL).status_code == 403
    assert no_role.client.get(f"{URL}departments/").status_code == 403


def test_viewer_can_read(viewer, org):
    employee = EmployeeFactory(organization=org)

    assert viewer.client.get(detail_url(employee)).status_code == 200
    assert viewer.client.get(f"{URL}departments/").status_code == 200


def test_anonymous_is_401(api_client, org):
    assert api_client.get(URL).status_code == 401


# --- query counts ---------------------------------------------------------------------------


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def make_team(org, size: int) -> None:
    top = EmployeeFactory(organization=org)
    boss = EmployeeFactory(organization=org, manager=top)
    for _ in range(size):
        EmployeeFactory(organization=org, manager=boss, user=make_member(org).user)


def test_list_query_count_does_not_grow_with_rows(viewer, org):
    make_team(org, 1)
    few = count_queries(viewer.client, f"{URL}?page_size=100")
    make_team(org, 49)

    many = count_queries(viewer.client, f"{URL}?page_size=100")

    assert Employee.objects.count() == 54
    assert few == many


def test_detail_query_count_is_constant(viewer, org):
    plain = EmployeeFactory(organization=org)
    top = EmployeeFactory(organization=org)
    boss = EmployeeFactory(organization=org, manager=top)
    full = EmployeeFactory(organization=org, manager=boss, user=make_member(org).user)

    plain_count = count_queries(viewer.client, detail_url(plain))
    full_count = count_queries(viewer.client, detail_url(full))

    assert plain_count == full_count


def test_salary_is_stored_exactly(owner, org):
    response = owner.client.post(
        URL,
        {"first_name": "A", "last_name": "B", "email": "a@b.io", "salary": "9999999999.99"},
        format="json",
    )

    assert response.status_code == 201
    assert Employee.objects.get().salary == Decimal("9999999999.99")


# --- concurrency (PostgreSQL only) ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_terminations_let_exactly_one_win():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    from crmApp.errors import RecordInvalid
    from crmApp.services.employees import employee_terminate
    from tests.factories import OrganizationFactory

    employee = EmployeeFactory(organization=OrganizationFactory())
    dates = [datetime.date(2025, 1, day) for day in range(1, 9)]

    def terminate(day: datetime.date):
        try:
            employee_terminate(employee=employee, termination_date=day)
        except RecordInvalid:
            return "refused"
        return "ok"

    outcomes = run_concurrently([partial(terminate, day) for day in dates])

    assert sorted(outcomes) == ["ok"] + ["refused"] * 7
    employee.refresh_from_db()
    assert employee.status == "inactive" and employee.termination_date in dates
