"""Idempotency-Key on POST: replay, mismatch, errors not stored, per user, auth excluded, purge,
and one execution under concurrency (PostgreSQL)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crmApp.models import Customer, Event, IdempotencyKey
from crmApp.tasks import idempotency_purge
from tests.concurrency import run_concurrently
from tests.conftest import authenticated_client, make_member
from tests.factories import DEFAULT_PASSWORD, LeadFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

BODY = {"name": "Ada", "email": "ada@example.com"}


def post(member, body=BODY, key="key-1", path="/api/customers/"):
    return member.client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_replays_the_stored_answer(owner):
    first = post(owner)
    second = post(owner)

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert second["Content-Type"] == "application/json"
    assert Customer.objects.count() == 1
    assert Event.objects.filter(type="customer.created").count() == 1


def test_the_same_key_with_another_body_is_a_422(owner):
    post(owner)

    response = post(owner, {**BODY, "name": "Grace"})

    assert response.status_code == 422
    message = "This Idempotency-Key was used with a different request; use a new key."
    assert response.json() == {"error": message, "details": {"detail": message}, "status_code": 422}
    assert Customer.objects.count() == 1


def test_the_same_key_on_another_route_is_a_422(owner, org):
    lead = LeadFactory(organization=org)
    post(owner)

    response = post(owner, {}, path=f"/api/leads/{lead.pk}/qualify/")

    assert response.status_code == 422


def test_actions_run_once(owner, org):
    lead = LeadFactory(organization=org)

    answers = [post(owner, {}, path=f"/api/leads/{lead.pk}/qualify/") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    assert Event.objects.filter(type="lead.qualified").count() == 1


def test_an_error_is_not_stored_and_frees_the_key(owner):
    refused = post(owner, {"name": "Ada"})
    fixed = post(owner)

    assert refused.status_code == 400
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed
    assert IdempotencyKey.objects.count() == 1


def test_keys_are_per_user(owner, org):
    colleague = make_member(org, role="sales")

    mine, theirs = post(owner), post(colleague)

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs
    assert Customer.objects.count() == 2


def test_requests_without_a_key_are_not_recorded(owner):
    owner.client.post("/api/customers/", BODY, format="json")
    owner.client.post("/api/customers/", BODY, format="json")

    assert Customer.objects.count() == 2
    assert IdempotencyKey.objects.count() == 0


def test_auth_answers_are_never_stored(api_client, owner):
    body = {"email": owner.user.email, "password": DEFAULT_PASSWORD}
    answers = [
        api_client.post("/api/auth/login/", body, format="json", HTTP_IDEMPOTENCY_KEY="login-1")
        for _ in range(2)
    ]

    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].data["tokens"]["access"] != answers[1].data["tokens"]["access"]
    assert "Idempotent-Replayed" not in answers[1]
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "caf\u00e9"])
def test_a_malformed_key_is_a_400(owner, key):
    response = owner.client.post(
        "/api/customers/", BODY, format="json", HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1")
    )

    assert response.status_code == 400
    assert response.json()["details"] == {
        "detail": "Idempotency-Key must be 1 to 255 printable ASCII characters."
    }
    assert Customer.objects.count() == 0


def test_expired_keys_run_again_and_are_purged(owner, settings):
    post(owner)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))

    again = post(owner)
    post(owner, key="key-2")
    IdempotencyKey.objects.filter(key="key-2").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    purged = idempotency_purge.apply().get()

    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert Customer.objects.count() == 3
    assert purged == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["key-1"]


def test_a_revoked_token_is_not_replayed(owner, org):
    post(owner)
    owner.client.post("/api/auth/logout/", {"refresh_token": owner.refresh}, format="json")

    response = post(owner)

    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_execute_once():
    if connection.vendor != "postgresql":
        pytest.skip("waiting on the unique constraint needs PostgreSQL")
    organization = OrganizationFactory()
    owner = make_member(organization, owner=True)
    clients = [authenticated_client(owner.user)[0] for _ in range(6)]

    answers = run_concurrently(
        [
            lambda client=client: client.post(
                "/api/customers/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
            for client in clients
        ]
    )

    assert [a.status_code for a in answers] == [201] * 6
    assert sorted(a.get("Idempotent-Replayed", "no") for a in answers) == ["no"] + ["true"] * 5
    assert len({a.content for a in answers}) == 1
    assert Customer.objects.filter(organization=organization).count() == 1


def test_an_answer_holding_a_webhook_secret_is_not_stored(owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    body = {"url": "http://127.0.0.1:9/hook"}

    answers = [post(owner, body, path="/api/webhooks/") for _ in range(2)]

    assert [a.status_code for a in answers] == [201, 201]
    assert "Idempotent-Replayed" not in answers[1]
    assert IdempotencyKey.objects.count() == 0
