"""Activities: CRUD with one parent, filters, search, complete/reopen, my tasks, stats."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmApp.models import Activity, AuditEvent, Customer, Event
from tests.factories import CustomerFactory, DealFactory, EmployeeFactory, LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/activities/"


def task(org, **fields) -> Activity:
    fields.setdefault("customer", CustomerFactory(organization=org))
    fields.setdefault("type", Activity.Type.TASK)
    fields.setdefault("subject", "Follow up")
    return Activity.objects.create(organization=org, **fields)


def test_create_on_a_customer_records_its_event_and_audit_row(sales, org):
    customer = CustomerFactory(organization=org)
    employee = EmployeeFactory(organization=org, first_name="Ada", last_name="King")
    due = "2030-01-02T09:00:00Z"

    response = sales.client.post(
        URL,
        {
            "type": "task",
            "subject": "Send the quote",
            "body": "With the discount",
            "due_at": due,
            "assignee_id": employee.pk,
            "customer_id": customer.pk,
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    activity = Activity.objects.get()
    data = response.json()
    assert data["id"] == activity.pk
    assert data["organization"] == org.pk
    assert (data["type"], data["subject"], data["body"]) == (
        "task",
        "Send the quote",
        "With the discount",
    )
    assert (data["due_at"], data["completed_at"]) == ("2030-01-02T09:00:00.000000Z", None)
    assert (data["assignee_id"], data["assignee_name"]) == (employee.pk, "Ada King")
    assert (data["customer_id"], data["lead_id"], data["deal_id"]) == (customer.pk, None, None)
    assert data["created_by"] == sales.user.pk
    assert data["is_overdue"] is False
    assert list(Event.objects.values_list("type", "resource_id")) == [
        ("activity.created", activity.pk)
    ]
    audit = AuditEvent.objects.get()
    assert (audit.action, audit.resource, audit.record_id, audit.actor_id) == (
        "created",
        "activity",
        activity.pk,
        sales.user.pk,
    )
    assert audit.changes["subject"] == {"old": None, "new": "Send the quote"}
    assert audit.changes["customer_id"] == {"old": None, "new": customer.pk}


@pytest.mark.parametrize("parents", [(), ("customer", "lead"), ("customer", "lead", "deal")])
def test_an_activity_needs_exactly_one_parent(sales, org, parents):
    ids = {
        "customer": CustomerFactory(organization=org).pk,
        "lead": LeadFactory(organization=org).pk,
        "deal": DealFactory(organization=org).pk,
    }
    body = {"subject": "Call", **{f"{name}_id": ids[name] for name in parents}}

    response = sales.client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.data["details"] == {
        "non_field_errors": ["An activity belongs to exactly one customer, lead or deal."]
    }
    assert Activity.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_update_moving_to_another_parent_must_clear_the_first(sales, org):
    activity = task(org)
    lead = LeadFactory(organization=org)

    both = sales.client.patch(f"{URL}{activity.pk}/", {"lead_id": lead.pk}, format="json")
    moved = sales.client.patch(
        f"{URL}{activity.pk}/", {"lead_id": lead.pk, "customer_id": None}, format="json"
    )

    assert both.status_code == 400
    assert moved.status_code == 200, moved.data
    assert (moved.data["lead_id"], moved.data["customer_id"]) == (lead.pk, None)


def test_filters_and_search(owner, org):
    now = timezone.now()
    customer = CustomerFactory(organization=org)
    employee = EmployeeFactory(organization=org)
    overdue = task(
        org, customer=customer, subject="Overdue call", due_at=now - dt.timedelta(days=1)
    )
    later = task(org, subject="Later", due_at=now + dt.timedelta(days=3), assignee=employee)
    done = task(
        org,
        subject="Done",
        body="signed contract",
        completed_at=now,
        due_at=now - dt.timedelta(days=2),
    )
    note = task(org, type=Activity.Type.NOTE, subject="A note", customer=customer)

    def ids(**params):
        response = owner.client.get(URL, params)
        assert response.status_code == 200, response.data
        return sorted(row["id"] for row in response.data["results"])

    assert ids(type="note") == [note.pk]
    assert ids(customer=customer.pk) == sorted([overdue.pk, note.pk])
    assert ids(assignee=employee.pk) == [later.pk]
    assert ids(overdue="true") == [overdue.pk]
    assert ids(completed="true") == [done.pk]
    assert ids(completed="false", type="task") == sorted([overdue.pk, later.pk])
    assert ids(due_before=now.isoformat()) == sorted([overdue.pk, done.pk])
    assert ids(due_after=now.isoformat()) == [later.pk]
    assert ids(search="CONTRACT") == [done.pk]
    assert owner.client.get(URL, {"overdue": "maybe"}).status_code == 400
    assert owner.client.get(URL, {"assignee": "x"}).status_code == 400


def test_complete_and_reopen_record_events_and_audit_rows(sales, org):
    activity = task(org)

    completed = sales.client.post(f"{URL}{activity.pk}/complete/")
    again = sales.client.post(f"{URL}{activity.pk}/complete/")
    reopened = sales.client.post(f"{URL}{activity.pk}/reopen/")

    assert completed.status_code == 200 and again.status_code == 200
    assert completed.data["completed_at"] is not None
    assert again.data["completed_at"] == completed.data["completed_at"]
    assert reopened.status_code == 200 and reopened.data["completed_at"] is None
    assert list(Event.objects.order_by("id").values_list("type", flat=True)) == [
        "activity.completed",
        "activity.updated",
    ]
    rows = list(AuditEvent.objects.order_by("id"))
    assert [row.action for row in rows] == ["completed", "updated"]
    assert rows[0].changes["completed_at"]["old"] is None
    assert rows[1].changes["completed_at"]["new"] is None
    assert set(rows[0].changes) == {"completed_at"}


def test_my_tasks_lists_the_callers_open_tasks_soonest_first(sales, org):
    mine = EmployeeFactory(organization=org, user=sales.user)
    someone = EmployeeFactory(organization=org)
    now = timezone.now()
    second = task(org, assignee=mine, due_at=now + dt.timedelta(days=2))
    first = task(org, assignee=mine, due_at=now - dt.timedelta(days=1))
    task(org, assignee=mine, due_at=now, completed_at=now)  # done
    task(org, assignee=mine, type=Activity.Type.CALL)  # not a task
    task(org, assignee=someone)

    response = sales.client.get(f"{URL}my_tasks/")

    assert response.status_code == 200
    assert [row["id"] for row in response.data["results"]] == [first.pk, second.pk]
    assert response.data["results"][0]["is_overdue"] is True


def test_stats_count_open_overdue_and_done_this_week_per_assignee(viewer, org):
    now = timezone.now()
    ada = EmployeeFactory(organization=org, first_name="Ada", last_name="L")
    bob = EmployeeFactory(organization=org, first_name="Bob", last_name="M")
    task(org, assignee=ada, due_at=now - dt.timedelta(hours=1))
    task(org, assignee=ada, due_at=now + dt.timedelta(days=1))
    task(org, assignee=bob, completed_at=now)
    task(org, assignee=bob, completed_at=now - dt.timedelta(days=30))
    task(org, type=Activity.Type.CALL, assignee=bob)

    response = viewer.client.get(f"{URL}stats/")

    assert response.status_code == 200
    assert response.data == {
        "open_tasks": 2,
        "overdue": 1,
        "done_this_week": 1,
        "by_assignee": [
            {
                "assignee_id": ada.pk,
                "assignee_name": "Ada L",
                "open_tasks": 2,
                "overdue": 1,
                "done_this_week": 0,
            },
            {
                "assignee_id": bob.pk,
                "assignee_name": "Bob M",
                "open_tasks": 0,
                "overdue": 0,
                "done_this_week": 1,
            },
        ],
    }


def test_converting_a_lead_carries_its_activities_to_the_customer(sales, org):
    lead = LeadFactory(organization=org)
    first = task(org, customer=None, lead=lead)
    second = task(org, customer=None, lead=lead, type=Activity.Type.NOTE)

    response = sales.client.post(f"/api/leads/{lead.pk}/convert/", {}, format="json")

    assert response.status_code in (200, 201), response.data
    customer = Customer.objects.get(converted_from_lead=lead)
    assert set(Activity.objects.values_list("pk", "customer_id", "lead_id")) == {
        (first.pk, customer.pk, None),
        (second.pk, customer.pk, None),
    }


def test_list_queries_do_not_grow_with_rows(owner, org):
    task(org, assignee=EmployeeFactory(organization=org))
    with CaptureQueriesContext(connection) as one:
        assert owner.client.get(URL).status_code == 200
    for _ in range(5):
        task(org, assignee=EmployeeFactory(organization=org))
    with CaptureQueriesContext(connection) as many:
        response = owner.client.get(URL)

    assert response.status_code == 200 and response.data["count"] == 6
    assert len(one) == len(many)
