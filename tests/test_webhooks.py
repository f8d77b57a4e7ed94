"""Webhooks: endpoints and their secret, signed delivery from the outbox to a real local HTTP
receiver, retries, timeouts, disabling, redelivery, and the SSRF guard.

Tasks run in Celery's eager mode; `django_capture_on_commit_callbacks(execute=True)` plays the
commits that queue them.
"""

import json
import socket
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from crmApp.models import Event, WebhookDelivery, WebhookEndpoint
from crmApp.services import webhooks
from crmApp.services.webhook_http import post_json
from crmApp.tasks import outbox_dispatch, webhooks_sweep
from tests.webhook_support import receiver, verify_signature_from_readme

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    return settings


def make_endpoint(owner, url: str, **extra) -> dict:
    response = owner.client.post(
        "/api/webhooks/", {"url": url, "event_types": ["customer.created"], **extra}, format="json"
    )
    assert response.status_code == 201, response.data
    return response.data


def create_customer(owner, capture, name: str = "Ada") -> None:
    with capture(execute=True):
        response = owner.client.post(
            "/api/customers/", {"name": name, "email": "ada@example.com"}, format="json"
        )
    assert response.status_code == 201, response.data


def due_now() -> None:
    WebhookDelivery.objects.filter(status="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# --- endpoints and their secret ---------------------------------------------------------------


def test_the_secret_is_shown_on_create_and_rotate_only(owner, private_ok):
    created = make_endpoint(owner, "http://127.0.0.1:9/hook")
    endpoint = WebhookEndpoint.objects.get()

    detail = owner.client.get(f"/api/webhooks/{endpoint.pk}/")
    listed = owner.client.get("/api/webhooks/")
    rotated = owner.client.post(f"/api/webhooks/{endpoint.pk}/rotate_secret/")

    assert created["secret"] == endpoint.secret
    assert created["secret"].startswith("whsec_")
    assert "secret" not in detail.data
    assert "secret" not in listed.data["results"][0]
    assert endpoint.secret.encode() not in detail.content + listed.content
    assert rotated.status_code == 200
    endpoint.refresh_from_db()
    assert rotated.data["secret"] == endpoint.secret != created["secret"]
    assert created["event_types"] == ["customer.created"]
    assert created["is_active"] is True


def test_event_types_must_be_known(owner, private_ok):
    response = owner.client.post(
        "/api/webhooks/",
        {"url": "http://127.0.0.1:9/", "event_types": ["customer.exploded"]},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.data["details"]) == ["event_types"]
    assert WebhookEndpoint.objects.count() == 0


# --- delivery to a real receiver --------------------------------------------------------------


def test_an_event_is_delivered_signed_to_the_receiver(
    owner, org, private_ok, django_capture_on_commit_callbacks
):
    verify_signature = verify_signature_from_readme()
    with receiver() as hook:
        created = make_endpoint(owner, hook.url)
        create_customer(owner, django_capture_on_commit_callbacks)

    (got,) = hook.received
    event = Event.objects.get(type="customer.created")
    delivery = WebhookDelivery.objects.get()
    body = json.loads(got.body)
    assert got.path == "/hook"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-CRM-Event-Type"] == "customer.created"
    assert got.headers["X-CRM-Event-ID"] == str(event.pk)
    assert got.headers["X-CRM-Delivery-ID"] == str(delivery.pk)
    assert sorted(body) == ["data", "id", "occurred_at", "organization", "type"]
    assert (body["id"], body["type"], body["organization"]) == (event.pk, event.type, org.pk)
    assert body["data"]["name"] == "Ada"
    assert verify_signature(created["secret"], got.headers["X-CRM-Signature"], got.body) is True
    assert verify_signature("whsec_wrong", got.headers["X-CRM-Signature"], got.body) is False
    tampered = got.body + b" "
    assert verify_signature(created["secret"], got.headers["X-CRM-Signature"], tampered) is False
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 200)
    assert delivery.latency_ms is not None
    assert delivery.next_attempt_at is None


def test_the_readme_snippet_refuses_an_old_signature():
    verify_signature = verify_signature_from_readme()
    body = b'{"id":1}'
    old = webhooks.webhook_sign(secret="s", timestamp=int(time.time()) - 600, body=body)
    fresh = webhooks.webhook_sign(secret="s", timestamp=int(time.time()), body=body)

    assert verify_signature("s", old, body) is False
    assert verify_signature("s", fresh, body) is True
    assert verify_signature("s", "garbage", body) is False


def test_only_matching_active_endpoints_of_the_organization_get_the_event(
    owner, org, other_org, private_ok, django_capture_on_commit_callbacks
):
    from tests.conftest import make_member

    stranger = make_member(other_org, owner=True)
    with receiver() as hook:
        make_endpoint(owner, hook.url)
        make_endpoint(owner, hook.url, event_types=["deal.won"])
        make_endpoint(owner, hook.url, is_active=False)
        make_endpoint(stranger, hook.url)
        create_customer(owner, django_capture_on_commit_callbacks)

    assert len(hook.received) == 1
    assert WebhookDelivery.objects.count() == 1


def test_a_500_is_retried_with_backoff_then_succeeds(
    owner, private_ok, django_capture_on_commit_callbacks
):
    private_ok.WEBHOOK_RETRY_BASE_SECONDS = 10
    with receiver([500]) as hook:
        make_endpoint(owner, hook.url)
        before = timezone.now()
        create_customer(owner, django_capture_on_commit_callbacks)
        first = WebhookDelivery.objects.get()
        endpoint = WebhookEndpoint.objects.get()
        assert (first.status, first.attempts, first.response_code) == ("pending", 1, 500)
        assert first.last_error == "HTTP 500"
        assert timedelta(seconds=5) <= first.next_attempt_at - before <= timedelta(seconds=11)
        assert endpoint.consecutive_failures == 1

        assert webhooks_sweep.apply().get() == 0  # not due yet
        due_now()
        assert webhooks_sweep.apply().get() == 1

    second = WebhookDelivery.objects.get()
    endpoint.refresh_from_db()
    assert (second.status, second.attempts, second.response_code) == ("succeeded", 2, 200)
    assert second.last_error == ""
    assert endpoint.consecutive_failures == 0
    assert len(hook.received) == 2
    assert json.loads(hook.received[0].body) == json.loads(hook.received[1].body)
    assert {r.headers["X-CRM-Delivery-ID"] for r in hook.received} == {str(second.pk)}


def test_a_timeout_is_a_failed_attempt(owner, private_ok, django_capture_on_commit_callbacks):
    private_ok.WEBHOOK_TIMEOUT_SECONDS = 0.3
    with receiver([("sleep", 1.0, 200)]) as hook:
        make_endpoint(owner, hook.url)
        started = time.perf_counter()
        create_customer(owner, django_capture_on_commit_callbacks)
        elapsed = time.perf_counter() - started
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, None)
        assert delivery.last_error.startswith("TimeoutError")
        assert elapsed < 1.0
        due_now()
        webhooks_sweep.apply()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


def test_retries_stop_after_the_window(owner, private_ok, django_capture_on_commit_callbacks):
    private_ok.WEBHOOK_RETRY_WINDOW_SECONDS = 3600
    with receiver([500, 500]) as hook:
        make_endpoint(owner, hook.url)
        create_customer(owner, django_capture_on_commit_callbacks)
        WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(seconds=3599))
        due_now()
        webhooks_sweep.apply()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 2, None)
    assert len(hook.received) == 2


def test_a_redirect_is_not_followed(owner, private_ok, django_capture_on_commit_callbacks):
    with receiver([("redirect", "http://127.0.0.1:9/elsewhere")]) as hook:
        make_endpoint(owner, hook.url)
        create_customer(owner, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.response_code, delivery.last_error) == (302, "HTTP 302")
    assert [r.path for r in hook.received] == ["/hook"]


def test_a_run_of_failures_disables_the_endpoint_and_emails_the_owners(
    owner, org, private_ok, django_capture_on_commit_callbacks
):
    private_ok.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    with receiver([500] * 10) as hook:
        endpoint_id = make_endpoint(owner, hook.url)["id"]
        for _ in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                response = owner.client.post(f"/api/webhooks/{endpoint_id}/test/")
            assert response.status_code == 202
        create_customer(owner, django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            outbox_dispatch.apply()  # the test's outer transaction held back this nudge

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.is_active is False
    assert endpoint.disabled_at is not None
    assert endpoint.disabled_reason == "3 failed attempts in a row."
    assert len(hook.received) == 3  # the event after the third failure was not sent
    assert Event.objects.get(type="customer.created").fanned_out_at is not None
    assert WebhookDelivery.objects.filter(event_type="customer.created").count() == 0
    disabled = Event.objects.get(type="webhook.disabled")
    assert disabled.snapshot == {
        "id": endpoint.pk,
        "url": endpoint.url,
        "consecutive_failures": 3,
        "disabled_reason": "3 failed attempts in a row.",
    }
    (message,) = mail.outbox
    assert message.to == [owner.user.email]
    assert message.subject == "A webhook of Acme was disabled"
    assert endpoint.url in message.body
    assert message.extra_headers["X-CRM-Event-ID"] == str(disabled.pk)

    reactivated = owner.client.patch(
        f"/api/webhooks/{endpoint.pk}/", {"is_active": True}, format="json"
    )
    assert reactivated.status_code == 200
    assert (reactivated.data["consecutive_failures"], reactivated.data["disabled_at"]) == (0, None)


def test_a_failed_delivery_is_redelivered_with_the_same_event_id(
    owner, private_ok, django_capture_on_commit_callbacks
):
    with receiver([500]) as hook:
        make_endpoint(owner, hook.url)
        create_customer(owner, django_capture_on_commit_callbacks)
        failed = WebhookDelivery.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            response = owner.client.post(f"/api/webhook-deliveries/{failed.pk}/redeliver/")

    assert response.status_code == 202
    again = WebhookDelivery.objects.get(pk=response.data["id"])
    assert (again.status, again.redelivery_of_id, again.event_id) == (
        "succeeded",
        failed.pk,
        failed.event_id,
    )
    first, second = (json.loads(r.body) for r in hook.received)
    assert first == second
    assert [r.headers["X-CRM-Delivery-ID"] for r in hook.received] == [
        str(failed.pk),
        str(again.pk),
    ]


def test_deliveries_lists_the_attempts_newest_first(
    owner, private_ok, django_capture_on_commit_callbacks
):
    with receiver([503]) as hook:
        endpoint_id = make_endpoint(owner, hook.url)["id"]
        create_customer(owner, django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            owner.client.post(f"/api/webhooks/{endpoint_id}/test/")

    response = owner.client.get(f"/api/webhooks/{endpoint_id}/deliveries/")

    assert response.status_code == 200
    assert response.data["count"] == 2
    ping, event = response.data["results"]
    assert (ping["event_type"], ping["status"], ping["response_code"], ping["attempts"]) == (
        "ping",
        "succeeded",
        200,
        1,
    )
    assert ping["next_attempt_at"] is None
    assert (event["event_type"], event["status"], event["response_code"]) == (
        "customer.created",
        "pending",
        503,
    )
    assert event["next_attempt_at"] is not None
    assert event["event"] == Event.objects.get(type="customer.created").pk
    assert isinstance(event["latency_ms"], int)
    assert sorted(ping) == [
        "attempts",
        "created_at",
        "delivered_at",
        "endpoint",
        "event",
        "event_type",
        "id",
        "last_error",
        "latency_ms",
        "next_attempt_at",
        "redelivery_of",
        "response_code",
        "status",
    ]


def test_two_workers_never_send_one_delivery_twice(
    owner, private_ok, django_capture_on_commit_callbacks
):
    with receiver() as hook:
        make_endpoint(owner, hook.url)
        create_customer(owner, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get()
        again = webhooks.webhook_deliver(delivery_id=delivery.pk)

    assert again == "skipped"
    assert len(hook.received) == 1


# --- the SSRF guard ---------------------------------------------------------------------------

REFUSED = [
    ("http://127.0.0.1:8000/hook", "The host '127.0.0.1' resolves to a loopback address"),
    ("http://10.1.2.3/hook", "The host '10.1.2.3' resolves to a private address"),
    ("http://192.168.0.10/hook", "The host '192.168.0.10' resolves to a private address"),
    (
        "http://169.254.169.254/latest/meta-data/",
        "The host '169.254.169.254' resolves to a cloud metadata address",
    ),
    ("http://[::1]/hook", "The host '::1' resolves to a loopback address"),
    (
        "http://[::ffff:127.0.0.1]/hook",
        "The host '::ffff:127.0.0.1' resolves to a loopback address",
    ),
    ("http://localhost:8000/hook", "The host 'localhost' resolves to a loopback address"),
    ("http://224.0.0.1/hook", "The host '224.0.0.1' resolves to a multicast address"),
    ("http://0.0.0.0/hook", "The host '0.0.0.0' resolves to a reserved address"),
    ("http://100.64.0.1/hook", "The host '100.64.0.1' resolves to a reserved address"),
    ("http://user:pw@93.184.215.14/hook", "Credentials in the URL are not allowed."),
]


@pytest.mark.parametrize("url,message", REFUSED)
def test_non_public_targets_are_refused_at_creation(owner, settings, url, message):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    response = owner.client.post("/api/webhooks/", {"url": url}, format="json")

    assert response.status_code == 400, response.data
    (text,) = response.data["details"]["url"]
    assert text.startswith(message), text
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize("url", ["ftp://93.184.215.14/x", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https_are_allowed(owner, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True

    response = owner.client.post("/api/webhooks/", {"url": url}, format="json")

    assert response.status_code == 400
    assert list(response.data["details"]) == ["url"]


def test_a_public_address_is_accepted(owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    response = owner.client.post(
        "/api/webhooks/", {"url": "https://93.184.215.14/hook"}, format="json"
    )

    assert response.status_code == 201


def test_metadata_addresses_stay_refused_with_private_addresses_allowed(owner, private_ok):
    response = owner.client.post(
        "/api/webhooks/", {"url": "http://169.254.169.254/latest/"}, format="json"
    )

    assert response.status_code == 400


def test_an_update_to_a_private_url_is_refused(owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    endpoint_id = make_endpoint(owner, "https://93.184.215.14/hook")["id"]

    response = owner.client.patch(
        f"/api/webhooks/{endpoint_id}/", {"url": "http://10.0.0.1/"}, format="json"
    )

    assert response.status_code == 400
    assert WebhookEndpoint.objects.get().url == "https://93.184.215.14/hook"


def test_the_address_is_checked_again_at_delivery(
    owner, private_ok, django_capture_on_commit_callbacks
):
    with receiver() as hook:
        make_endpoint(owner, hook.url)
        private_ok.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
        create_customer(owner, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert hook.received == []
    assert delivery.last_error == (
        "Refused: The host '127.0.0.1' resolves to a loopback address, which is not allowed."
    )
    assert (delivery.status, delivery.response_code) == ("pending", None)


def test_the_connection_goes_to_the_address_that_was_checked(private_ok, monkeypatch):
    """A name that resolves differently on a second lookup (DNS rebinding) is not looked up
    again: the request goes to the first, checked answer, with the name in the Host header."""
    real = socket.getaddrinfo
    lookups = []

    def rebinding(host, *args, **kwargs):
        if host == "rebind.test":
            lookups.append(host)
            address = "127.0.0.1" if len(lookups) == 1 else "10.255.255.1"
            return real(address, *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with receiver() as hook:
        answer = post_json(
            url=f"http://rebind.test:{hook.port}/in",
            body=b"{}",
            headers={"Content-Type": "application/json"},
            timeout=2,
        )

    assert answer.status == 200
    assert lookups == ["rebind.test"]
    assert hook.received[0].headers["Host"] == f"rebind.test:{hook.port}"


def test_organizations_without_endpoints_get_no_webhook_delivery_rows(
    owner, other_org, private_ok, django_capture_on_commit_callbacks
):
    from crmApp.models import EventDelivery
    from tests.conftest import make_member

    stranger = make_member(other_org, owner=True)
    with receiver() as hook:
        make_endpoint(stranger, hook.url)
        create_customer(owner, django_capture_on_commit_callbacks)
        create_customer(stranger, django_capture_on_commit_callbacks, name="Theirs")
        # The test's one outer transaction keeps the first nudge queued, so the second request
        # does not nudge again: dispatch as the beat sweep would.
        with django_capture_on_commit_callbacks(execute=True):
            outbox_dispatch.apply()

    consumers = sorted(
        EventDelivery.objects.values_list("event__organization_id", "consumer").distinct()
    )
    assert consumers == [(other_org.pk, "webhooks")]
    assert len(hook.received) == 1
