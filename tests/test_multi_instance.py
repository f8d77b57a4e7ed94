"""Two app instances (gunicorn masters) and two Celery workers on one PostgreSQL and one Redis:
what one instance decides, the other honours.

Rate limits, failed-login counters and token revocation live in the shared cache and the
database, never in a process; an event is dispatched once whichever worker takes it. The
instances serve the test database (PostgreSQL only) with production settings; the cache keys
and queue names carry this run's prefix, so parallel runs do not meet.
"""

import json
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.db import connection

from crmApp.models import Event, WebhookDelivery
from tests.conftest import make_member
from tests.events_support import redis_up
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.instances import app_env, celery_workers, gunicorns, shared_database_url
from tests.webhook_support import receiver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

#: Requests per minute a signed-in user may make (THROTTLE_USER_RATE).
USER_RATE = 6
#: Failed logins of one account from one address before it is blocked.
LOGIN_LIMIT = 3
DELIVERY_TIMEOUT = 30


@pytest.fixture
def deployment(worker_id, tmp_path):
    """Two gunicorn masters and two Celery workers sharing the test database and one Redis."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the instances share the test database")
    if not redis_up():
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    number = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
    redis_url = f"redis://127.0.0.1:6379/{8 + number % 8}"
    run_id = f"crmdeploy-{uuid.uuid4().hex[:8]}-"
    env = app_env(
        # The tokens the fixtures mint here must verify there.
        SECRET_KEY=settings.SECRET_KEY,
        JWT_SIGNING_KEY=settings.SIMPLE_JWT["SIGNING_KEY"],
        DATABASE_URL=shared_database_url(),
        REDIS_URL=redis_url,
        CACHE_KEY_PREFIX=run_id,
        CELERY_BROKER_URL=redis_url,
        CELERY_QUEUE_PREFIX=run_id,
        THROTTLE_USER_RATE=f"{USER_RATE}/min",
        LOGIN_FAILURE_LIMIT_PER_ACCOUNT=str(LOGIN_LIMIT),
        WEBHOOK_ALLOW_PRIVATE_ADDRESSES="true",
        DATABASE_CONN_MAX_AGE="0",
    )
    try:
        worker_logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
        web_logs = [tmp_path / "web1.log", tmp_path / "web2.log"]
        with celery_workers(env, run_id, worker_logs), gunicorns(env, web_logs) as instances:
            yield instances, worker_logs
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"*{run_id}*"):
            client.delete(key)
        connection.close()


def test_limits_revocation_lockout_and_events_hold_across_instances(deployment, owner, org):
    (first, second), worker_logs = deployment

    # A user's rate limit counts its requests on both instances together.
    limited = make_member(org, role="viewer")
    statuses = [
        (first if n % 2 else second).call("GET", "/api/users/me/", token=limited.access).status
        for n in range(USER_RATE + 2)
    ]
    assert statuses == [200] * USER_RATE + [429, 429]

    # A session logged out on one instance is refused by the other.
    leaving = make_member(org, role="sales")
    assert second.call("GET", "/api/users/me/", token=leaving.access).status == 200
    logout = first.call(
        "POST", "/api/auth/logout/", token=leaving.access, body={"refresh_token": leaving.refresh}
    )
    assert logout.status == 200, logout.body
    assert second.call("GET", "/api/users/me/", token=leaving.access).status == 401

    # A refresh token spent on one instance and replayed on the other revokes the session.
    rotating = make_member(org, role="sales")
    rotated = first.call("POST", "/api/auth/refresh/", body={"refresh": rotating.refresh})
    assert rotated.status == 200, rotated.body
    replayed = second.call("POST", "/api/auth/refresh/", body={"refresh": rotating.refresh})
    assert replayed.status == 401
    assert first.call("GET", "/api/users/me/", token=rotated.body["access"]).status == 401

    # Failed logins on both instances add up to one lockout, seen by both.
    locked = UserFactory()
    wrong = {"email": locked.email, "password": "not-the-password"}
    failures = [(first, second, first)[n].call("POST", "/api/auth/login/", body=wrong).status
                for n in range(LOGIN_LIMIT)]  # fmt: skip
    assert failures == [400] * LOGIN_LIMIT
    right = {"email": locked.email, "password": DEFAULT_PASSWORD}
    assert second.call("POST", "/api/auth/login/", body=right).status == 429
    assert first.call("POST", "/api/auth/login/", body=right).status == 429

    # Writes on either instance: each event reaches the webhook exactly once.
    with receiver() as hook:
        endpoint = first.call(
            "POST",
            "/api/webhooks/",
            token=owner.access,
            body={"url": hook.url, "event_types": ["customer.created"], "organization": org.pk},
        )
        assert endpoint.status == 201, endpoint.body
        for instance, name in ((first, "Ada"), (second, "Grace")):
            created = instance.call(
                "POST",
                "/api/customers/",
                token=owner.access,
                body={"name": name, "email": f"{name.lower()}@example.com"},
            )
            assert created.status == 201, created.body
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while len(hook.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # a second delivery, if one were coming, arrives meanwhile

    events = Event.objects.filter(type="customer.created").order_by("id")
    got = sorted(json.loads(request.body)["id"] for request in hook.received)
    assert got == [event.pk for event in events]
    assert len(got) == 2
    assert sorted(json.loads(r.body)["data"]["name"] for r in hook.received) == ["Ada", "Grace"]
    assert list(WebhookDelivery.objects.values_list("status", "attempts")) == [("succeeded", 1)] * 2
    # The workers sent them (a web instance with a broker never runs tasks itself).
    worked = "".join(log.read_text() for log in worker_logs)
    assert worked.count("crmApp.tasks.webhook_deliver") >= 2, worked[-3000:]
