"""Assignment mail and the daily digest, through a real local SMTP server, and preferences."""

import datetime as dt

import pytest
from django.utils import timezone

from crmApp.models import Activity
from crmApp.tasks import task_digest_send
from tests.events_support import free_port
from tests.factories import CustomerFactory, EmployeeFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server on a free local port; the messages it received."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    try:
        yield received
    finally:
        controller.stop()


def _text(message) -> str:
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    return parts["text/plain"]


def test_the_assignee_of_a_new_task_is_mailed(
    sales, org, smtp_inbox, django_capture_on_commit_callbacks
):
    user = UserFactory(first_name="Ada")
    employee = EmployeeFactory(organization=org, user=user)
    customer = CustomerFactory(organization=org)

    with django_capture_on_commit_callbacks(execute=True):
        response = sales.client.post(
            "/api/activities/",
            {
                "type": "task",
                "subject": "Call back",
                "customer_id": customer.pk,
                "assignee_id": employee.pk,
                "due_at": "2030-05-01T10:00:00Z",
            },
            format="json",
        )

    assert response.status_code == 201, response.data
    assert len(smtp_inbox) == 1
    message = smtp_inbox[0]
    assert message["To"] == user.email
    assert message["Subject"] == f"{org.name}: a task was assigned to you: Call back"
    assert "Hello Ada" in _text(message) and "2030-05-01 10:00 UTC" in _text(message)


def test_no_mail_when_the_assignee_opted_out_or_nothing_changed(
    sales, org, smtp_inbox, django_capture_on_commit_callbacks
):
    quiet = EmployeeFactory(organization=org, user=UserFactory(notify_assignments=False))
    loud = EmployeeFactory(organization=org, user=UserFactory())
    customer = CustomerFactory(organization=org)
    note = {"type": "note", "subject": "N", "customer_id": customer.pk}

    with django_capture_on_commit_callbacks(execute=True):
        opted_out = sales.client.post(
            "/api/activities/",
            {"type": "task", "subject": "T", "customer_id": customer.pk, "assignee_id": quiet.pk},
            format="json",
        )
        a_note = sales.client.post(
            "/api/activities/", {**note, "assignee_id": loud.pk}, format="json"
        )
        same = sales.client.patch(
            f"/api/activities/{opted_out.data['id']}/", {"subject": "T2"}, format="json"
        )

    assert (opted_out.status_code, a_note.status_code, same.status_code) == (201, 201, 200)
    assert smtp_inbox == []


def test_a_deal_handed_to_someone_mails_them(
    owner, org, smtp_inbox, django_capture_on_commit_callbacks
):
    from tests.factories import DealFactory

    deal = DealFactory(organization=org, title="Big one")
    user = UserFactory()
    employee = EmployeeFactory(organization=org, user=user)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client.patch(
            f"/api/deals/{deal.pk}/", {"assigned_to_id": employee.pk}, format="json"
        )

    assert response.status_code == 200, response.data
    assert [m["To"] for m in smtp_inbox] == [user.email]
    assert smtp_inbox[0]["Subject"] == f"{org.name}: a deal was assigned to you: Big one"


def test_the_digest_lists_due_and_overdue_tasks_per_user(org, smtp_inbox):
    now = timezone.now()
    ada = UserFactory(first_name="Ada")
    bob = UserFactory(notify_digest=False)
    ada_employee = EmployeeFactory(organization=org, user=ada)
    bob_employee = EmployeeFactory(organization=org, user=bob)
    customer = CustomerFactory(organization=org)

    def task(assignee, subject, due, **fields):
        return Activity.objects.create(
            organization=org,
            type="task",
            subject=subject,
            customer=customer,
            assignee=assignee,
            due_at=due,
            **fields,
        )

    task(ada_employee, "Overdue thing", now - dt.timedelta(days=2))
    task(ada_employee, "Today thing", now.replace(hour=23, minute=59))
    task(ada_employee, "Next week", now + dt.timedelta(days=7))
    task(ada_employee, "Done already", now - dt.timedelta(days=1), completed_at=now)
    task(bob_employee, "Bob's overdue", now - dt.timedelta(days=1))

    sent = task_digest_send.apply().get()

    assert sent == 1
    assert [m["To"] for m in smtp_inbox] == [ada.email]
    text = _text(smtp_inbox[0])
    assert "Overdue thing" in text and "Today thing" in text
    assert "Next week" not in text and "Done already" not in text


def test_preferences_are_changed_through_update_profile(sales):
    response = sales.client.patch(
        "/api/users/update_profile/",
        {"notify_assignments": False, "notify_digest": False},
        format="json",
    )
    me = sales.client.get("/api/users/me/")

    assert response.status_code == 200
    assert (response.data["notify_assignments"], response.data["notify_digest"]) == (False, False)
    assert (me.data["notify_assignments"], me.data["notify_digest"]) == (False, False)
    sales.user.refresh_from_db()
    assert (sales.user.notify_assignments, sales.user.notify_digest) == (False, False)
