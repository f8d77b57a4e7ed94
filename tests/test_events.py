"""The transactional outbox: recording with the change, dispatching, retries, faults, mail.

Tasks run in Celery's eager mode (no broker configured), through the same on-commit path as
with a broker; `django_capture_on_commit_callbacks(execute=True)` plays the commit.
"""

import datetime
import json
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from crmApp.models import Customer, Event, EventDelivery, Lead
from crmApp.services import outbox
from crmApp.services.events import event_record, event_record_for, snapshot_of
from crmApp.services.leads import lead_qualify
from crmApp.services.mail import email_render
from crmApp.tasks import outbox_deliver, outbox_dispatch
from tests.conftest import make_colleague, make_member
from tests.events_support import Recorder, celery_broker, free_port
from tests.factories import CustomerFactory, DealFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def consumers(monkeypatch):
    """Only the consumers a test registers (the project's own are put back afterwards)."""
    registry = dict(outbox.consumers())
    monkeypatch.setattr(outbox, "CONSUMERS", {})

    def register(*recorders: Recorder):
        for recorder in recorders:
            outbox.consumer_register(recorder.consumer)

    yield register
    outbox.CONSUMERS.update(registry)


def dispatch() -> None:
    outbox_dispatch.apply()


# --- recording ------------------------------------------------------------------------------


def test_an_action_records_its_event_in_the_same_transaction(owner, org):
    lead = LeadFactory(organization=org)

    response = owner.client.post(
        f"/api/leads/{lead.pk}/qualify/", HTTP_X_REQUEST_ID="req-qualify-1"
    )

    assert response.status_code == 200
    event = Event.objects.get()
    assert (event.type, event.resource, event.resource_id) == ("lead.qualified", "lead", lead.pk)
    assert event.organization_id == org.pk
    assert event.actor_id == owner.user.pk
    assert event.request_id == "req-qualify-1"
    assert event.snapshot["qualification_status"] == "qualified"
    assert event.snapshot["organization_id"] == org.pk
    assert event.fanned_out_at is None


@pytest.mark.parametrize(
    "action,expected",
    [("mark_won", "deal.won"), ("mark_lost", "deal.lost")],
)
def test_deal_transitions_record_their_type(owner, org, action, expected):
    deal = DealFactory(organization=org)

    assert owner.client.post(f"/api/deals/{deal.pk}/{action}/").status_code == 200
    assert owner.client.post(f"/api/deals/{deal.pk}/reopen/").status_code == 200

    assert list(Event.objects.order_by("id").values_list("type", flat=True)) == [
        expected,
        "deal.reopened",
    ]


def test_member_add_and_remove_record_joined_and_removed(owner, org):
    user = make_colleague(owner)

    added = owner.client.post(f"/api/organizations/{org.pk}/add_member/", {"user_id": user.pk})
    removed = owner.client.post(f"/api/organizations/{org.pk}/remove_member/", {"user_id": user.pk})

    assert added.status_code < 300 and removed.status_code < 300
    events = list(Event.objects.order_by("id"))
    assert [e.type for e in events] == ["member.joined", "member.removed"]
    assert all(e.snapshot["user_id"] == user.pk for e in events)


def test_a_rolled_back_change_emits_nothing(org):
    lead = LeadFactory(organization=org)

    with pytest.raises(RuntimeError), transaction.atomic():
        lead_qualify(lead=lead)
        assert Event.objects.count() == 1
        raise RuntimeError("the rest of the change failed")

    assert Event.objects.count() == 0
    lead.refresh_from_db()
    assert lead.qualification_status != "qualified"


def test_a_refused_request_emits_nothing(owner, org):
    lead = LeadFactory(organization=org, is_converted=True)

    response = owner.client.post(f"/api/leads/{lead.pk}/qualify/")

    assert response.status_code == 400
    assert Event.objects.count() == 0


def test_a_rolled_back_transaction_dispatches_nothing(
    org, consumers, django_capture_on_commit_callbacks
):
    recorder = Recorder("r", {"customer.updated"})
    consumers(recorder)
    customer = CustomerFactory(organization=org)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        event_record_for(customer, "customer.updated")
        raise RuntimeError("rolled back")

    assert callbacks == []
    assert recorder.seen == []


def test_one_nudge_per_transaction(org, django_capture_on_commit_callbacks):
    customers = CustomerFactory.create_batch(3, organization=org)

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for customer in customers:
            event_record_for(customer, "customer.updated")

    # One dispatch nudge (and one renewal of the organization's version, from the audit rows),
    # however many events.
    assert [_callback_name(callback) for callback in callbacks] == ["_VersionsRenewal", "_nudge"]


def _callback_name(callback) -> str:
    return getattr(callback, "__name__", type(callback).__name__)


def test_unknown_event_types_are_refused(org):
    with pytest.raises(ValueError):
        event_record(
            organization_id=org.pk, type="customer.exploded", resource="customer", resource_id=1
        )
    with pytest.raises(ValueError):
        event_record(
            organization_id=org.pk, type="lead.created", resource="customer", resource_id=1
        )


def test_snapshot_is_plain_json_without_secrets(org):
    customer = CustomerFactory(organization=org)
    customer.credit_limit = Decimal("12.50") if hasattr(customer, "credit_limit") else None
    snapshot = snapshot_of(customer)
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert isinstance(snapshot["created_at"], str)
    assert snapshot["organization_id"] == org.pk
    assert "password" not in snapshot_of(UserFactory())


# --- dispatching ----------------------------------------------------------------------------


def test_each_pending_event_reaches_each_consumer_once(org, consumers):
    first = Recorder("first", {"customer.updated", "lead.qualified"})
    second = Recorder("second", {"customer.updated"})
    consumers(first, second)
    customers = CustomerFactory.create_batch(3, organization=org)
    events = [event_record_for(c, "customer.updated") for c in customers]
    lead_event = event_record_for(LeadFactory(organization=org), "lead.qualified")

    dispatch()
    dispatch()

    assert sorted(first.seen) == sorted([e.pk for e in events] + [lead_event.pk])
    assert sorted(second.seen) == sorted(e.pk for e in events)
    assert EventDelivery.objects.count() == 7
    assert set(EventDelivery.objects.values_list("status", "attempts")) == {("delivered", 1)}
    assert not Event.objects.filter(fanned_out_at__isnull=True).exists()


def test_the_commit_nudges_the_dispatcher(
    owner, org, consumers, django_capture_on_commit_callbacks
):
    recorder = Recorder("r", {"lead.qualified"})
    consumers(recorder)
    lead = LeadFactory(organization=org)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client.post(f"/api/leads/{lead.pk}/qualify/")

    assert response.status_code == 200
    assert recorder.seen == [Event.objects.get().pk]


def test_a_delivery_runs_once_even_when_handed_out_twice(org, consumers):
    recorder = Recorder("r", {"customer.updated"})
    consumers(recorder)
    event_record_for(CustomerFactory(organization=org), "customer.updated")
    outbox.outbox_fan_out()
    delivery = EventDelivery.objects.get()

    assert outbox_deliver.apply(args=(delivery.pk,)).get() == "delivered"
    assert outbox_deliver.apply(args=(delivery.pk,)).get() == "skipped"
    assert len(recorder.seen) == 1


def test_a_failing_consumer_is_retried_with_backoff_and_blocks_nobody(org, consumers, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 30
    flaky = Recorder("flaky", {"customer.updated"}, fail_times=1)
    steady = Recorder("steady", {"customer.updated"})
    consumers(flaky, steady)
    events = [
        event_record_for(c, "customer.updated")
        for c in CustomerFactory.create_batch(2, organization=org)
    ]

    before = timezone.now()
    dispatch()

    assert sorted(steady.seen) == sorted(e.pk for e in events)
    assert flaky.seen == [events[1].pk]  # the first event failed, the second went through
    failed = EventDelivery.objects.get(consumer="flaky", event=events[0])
    assert (failed.status, failed.attempts) == ("pending", 1)
    assert "flaky is down" in failed.last_error
    delay = (failed.next_attempt_at - before).total_seconds()
    assert 15 <= delay <= 31  # half fixed, half jitter

    dispatch()  # not due yet
    assert flaky.seen == [events[1].pk]

    EventDelivery.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
    dispatch()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == ("delivered", 2, "")
    assert sorted(flaky.seen) == sorted(e.pk for e in events)


def test_a_consumer_that_keeps_failing_is_parked(org, consumers, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    settings.OUTBOX_RETRY_BASE_SECONDS = 0
    broken = Recorder("broken", {"customer.updated"}, fail_times=10)
    consumers(broken)
    event_record_for(CustomerFactory(organization=org), "customer.updated")

    dispatch()
    dispatch()

    delivery = EventDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 2)


def test_retry_delays_grow_exponentially_with_jitter(settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 10
    settings.OUTBOX_RETRY_MAX_SECONDS = 100
    for attempts, full in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        delays = {outbox.retry_delay(attempts) for _ in range(20)}
        assert all(full / 2 <= d <= full for d in delays), (attempts, delays)
        assert len(delays) > 1


# --- a broker that is down ------------------------------------------------------------------


def test_a_down_broker_never_fails_the_request(
    owner, org, consumers, django_capture_on_commit_callbacks
):
    recorder = Recorder("r", {"lead.qualified"})
    consumers(recorder)
    lead = LeadFactory(organization=org)

    with (
        celery_broker(f"redis://127.0.0.1:{free_port()}/0"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = owner.client.post(f"/api/leads/{lead.pk}/qualify/")

    assert response.status_code == 200
    # The nudge ran, and its publish failed quietly.
    assert "_nudge" in [_callback_name(callback) for callback in callbacks]
    event = Event.objects.get()
    assert event.fanned_out_at is None and recorder.seen == []

    dispatch()  # the beat sweep, once the broker is back

    assert recorder.seen == [event.pk]


def test_health_reports_the_broker(api_client, settings):
    settings.BROKER_CONFIGURED = True
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = api_client.get("/api/health/")

    assert response.status_code == 200  # the API itself still works
    assert response.data["checks"]["broker"].startswith("error: ")


# --- mail -----------------------------------------------------------------------------------


def test_member_joined_sends_one_email(owner, org, django_capture_on_commit_callbacks):
    user = make_colleague(owner, first_name="Ada")

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client.post(
            f"/api/organizations/{org.pk}/add_member/", {"user_id": user.pk}
        )
    dispatch()
    EventDelivery.objects.update(next_attempt_at=timezone.now())
    outbox_deliver.apply(args=(EventDelivery.objects.get().pk,))

    assert response.status_code == 201
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    assert message.subject == f"You were added to {org.name}"
    assert "Hello Ada" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and f"<strong>{org.name}</strong>" in html
    event = Event.objects.get(type="member.joined")
    assert message.extra_headers["X-CRM-Event-ID"] == str(event.pk)
    assert EventDelivery.objects.get().status == "delivered"


def test_email_templates_render_text_and_escaped_html(org):
    org.name = "R&D <Lab>"
    user = UserFactory(first_name="")
    subject, text, html = email_render(
        template="member_joined", context={"user": user, "organization": org, "actor": None}
    )
    assert subject == "You were added to R&amp;D &lt;Lab&gt;" or subject.startswith("You were")
    assert "R&D <Lab>" in text and f"Hello {user.username}" in text
    assert "R&amp;D &lt;Lab&gt;" in html


def test_member_joined_email_reaches_a_real_smtp_server(
    owner, org, settings, django_capture_on_commit_callbacks
):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = False
        user = make_colleague(owner)
        with django_capture_on_commit_callbacks(execute=True):
            response = owner.client.post(
                f"/api/organizations/{org.pk}/add_member/", {"user_id": user.pk}
            )
        dispatch()  # a second sweep sends nothing more
    finally:
        controller.stop()

    assert response.status_code == 201
    assert len(received) == 1
    message = received[0]
    assert message["To"] == user.email
    assert message["Subject"] == f"You were added to {org.name}"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    assert f"You were added to {org.name}" in parts["text/plain"]
    assert f"<strong>{org.name}</strong>" in parts["text/html"]


# --- the events endpoint --------------------------------------------------------------------

URL = "/api/events/"


def _events(org, count: int, *, start=None, type="customer.updated") -> list[Event]:
    start = start or timezone.now() - datetime.timedelta(hours=1)
    customer = CustomerFactory(organization=org)
    events = []
    for number in range(count):
        event = event_record_for(customer, type)
        Event.objects.filter(pk=event.pk).update(
            created_at=start + datetime.timedelta(minutes=number)
        )
        events.append(event)
    return events


def test_list_is_newest_first_and_cursor_paginated(owner, org):
    events = _events(org, 5)
    # two events in the same instant: the id breaks the tie
    Event.objects.filter(pk=events[3].pk).update(
        created_at=Event.objects.get(pk=events[4].pk).created_at
    )

    seen, url = [], f"{URL}?page_size=2"
    pages = 0
    while url:
        response = owner.client.get(url)
        assert response.status_code == 200, response.data
        assert sorted(response.data) == ["next", "previous", "results"]
        seen += [row["id"] for row in response.data["results"]]
        url, pages = response.data["next"], pages + 1

    assert seen == [e.pk for e in reversed(events)]
    assert pages == 3


def test_detail_shows_the_event(owner, org):
    (event,) = _events(org, 1)

    response = owner.client.get(f"{URL}{event.pk}/")

    assert response.status_code == 200
    assert response.data["type"] == "customer.updated"
    assert response.data["resource"] == "customer"
    assert response.data["snapshot"]["id"] == event.resource_id


def test_filters(owner, org):
    start = timezone.now() - datetime.timedelta(days=1)
    updates = _events(org, 3, start=start)
    deletes = _events(org, 2, start=start + datetime.timedelta(hours=2), type="customer.deleted")
    lead = LeadFactory(organization=org)
    lead_event = event_record_for(lead, "lead.qualified")

    def ids(**params):
        response = owner.client.get(URL, params)
        assert response.status_code == 200, response.data
        return {row["id"] for row in response.data["results"]}

    assert ids(type="customer.deleted") == {e.pk for e in deletes}
    assert ids(resource="lead") == {lead_event.pk}
    assert ids(resource="customer", resource_id=updates[0].resource_id) == {e.pk for e in updates}
    middle = (start + datetime.timedelta(minutes=1)).isoformat()
    assert ids(created_after=middle) == {updates[1].pk, updates[2].pk, lead_event.pk} | {
        e.pk for e in deletes
    }
    assert ids(created_before=middle) == {updates[0].pk}
    assert ids(created_after=start.date().isoformat(), type="customer.updated") == {
        e.pk for e in updates
    }


@pytest.mark.parametrize(
    "params",
    [
        {"type": "customer.exploded"},
        {"resource": "planet"},
        {"resource_id": "abc"},
        {"resource_id": "0"},
        {"created_after": "yesterday"},
        {"created_before": "2026-13-45"},
        {"ordering": "id"},
        {"page": "2"},
        {"color": "red"},
    ],
)
def test_bad_filter_values_are_a_400(owner, org, params):
    response = owner.client.get(URL, params)
    assert response.status_code == 400, response.data
    assert response.json()["status_code"] == 400


def test_a_forged_cursor_is_a_400_envelope(owner, org):
    response = owner.client.get(URL, {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["details"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize(
    "role,status", [("admin", 200), ("manager", 200), ("sales", 403), ("viewer", 403)]
)
def test_reading_events_needs_events_view(org, role, status):
    (event,) = _events(org, 1)
    member = make_member(org, role=role)

    assert member.client.get(URL).status_code == status
    assert member.client.get(f"{URL}{event.pk}/").status_code in (
        (200,) if status == 200 else (403, 404)
    )


def test_another_organizations_events_are_invisible(owner, org, other_org):
    (mine,) = _events(org, 1)
    (theirs,) = _events(other_org, 1)

    listed = owner.client.get(URL)
    narrowed = owner.client.get(URL, {"organization": other_org.pk})

    assert [row["id"] for row in listed.data["results"]] == [mine.pk]
    assert narrowed.data["results"] == []
    assert owner.client.get(f"{URL}{theirs.pk}/").status_code == 404


def test_events_survive_their_records_deletion(owner, org):
    customer = CustomerFactory(organization=org)
    event_record_for(customer, "customer.deleted")
    Customer.objects.filter(pk=customer.pk).delete()
    Lead.objects.all().delete()

    response = owner.client.get(URL, {"resource_id": customer.pk})

    assert [row["type"] for row in response.data["results"]] == ["customer.deleted"]


def test_events_view_is_granted_to_admins_and_managers_only():
    from crmApp.permissions import PERMISSION_TABLE, RESOURCES, SYSTEM_PERMISSIONS, SYSTEM_ROLES

    assert "events" in RESOURCES
    assert PERMISSION_TABLE["event"] == {
        "list": (("events", "view"),),
        "retrieve": (("events", "view"),),
    }
    assert {("events", "view"), ("events", "manage")} <= set(SYSTEM_PERMISSIONS)
    grants = {slug: set(role[2]) for slug, role in SYSTEM_ROLES.items()}
    assert ("events", "manage") in grants["admin"]
    assert ("events", "view") in grants["manager"]
    assert not {p for p in grants["sales"] | grants["viewer"] if p[0] == "events"}


@pytest.mark.parametrize(
    "bound",
    ["0922-09-01T03:31:22.0-19:50", "2026-01-01T00:00:00+23:59", "0001-01-01T00:00:00+05:00"],
)
def test_time_bounds_with_extreme_offsets_are_never_a_500(owner, org, bound):
    response = owner.client.get("/api/events/", {"created_after": bound})
    assert response.status_code in (200, 400)
    response = owner.client.get("/api/events/", {"created_before": bound})
    assert response.status_code in (200, 400)
