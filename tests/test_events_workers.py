"""Two real Celery workers racing over one outbox: an event is delivered exactly once.

The workers are `celery -A crmAdmin worker` subprocesses on the local Redis, sharing the test
database (PostgreSQL only: SQLite's in-memory test database cannot be shared between processes,
and SQLite has no SKIP LOCKED to race over). Queue names and the Redis database are unique to
the run, so parallel runs do not take each other's tasks.
"""

import os
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from crmApp.models import Event, EventDelivery
from crmApp.tasks import outbox_deliver, outbox_dispatch, publish
from tests.conftest import make_colleague
from tests.events_support import celery_broker, redis_up
from tests.instances import celery_workers, shared_database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60
DELIVERY_TIMEOUT = 60


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def run_id(worker_id) -> str:
    return f"crmtest-{worker_id}-{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def broker_url(worker_id) -> str:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the workers share the test database")
    if not redis_up():
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    number = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
    return f"redis://127.0.0.1:6379/{8 + number % 8}"


@pytest.fixture
def worker_extra_env() -> dict[str, str]:
    """More environment for the workers (a test module overrides this fixture)."""
    return {}


@pytest.fixture
def workers(broker_url, run_id, tmp_path, worker_extra_env):
    """Two worker processes (two pool processes each) on this run's queues; stopped after."""
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    # Not a server: importing the WSGI module (as the fuzzing tests do) marks this process one.
    inherited = {k: v for k, v in os.environ.items() if k != "CRM_SERVING"}
    env = {
        **inherited,
        "DATABASE_URL": shared_database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_QUEUE_PREFIX": run_id,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "DEBUG": "false",
        "DATABASE_CONN_MAX_AGE": "0",
        **worker_extra_env,
    }
    logs = [tmp_path / f"worker{number}.log" for number in (1, 2)]
    try:
        with celery_workers(env, run_id, logs):
            yield mail_dir
    finally:
        client = redis.Redis.from_url(broker_url)
        for key in client.scan_iter(f"*{run_id}*"):
            client.delete(key)
        connection.close()  # the workers' sessions are gone; start clean for the flush


def _queued(broker_url: str, run_id: str) -> int:
    client = redis.Redis.from_url(broker_url)
    return sum(client.llen(f"{run_id}{kind}") for kind in settings.TASK_QUEUES)


def test_two_workers_deliver_an_api_event_exactly_once(
    workers, broker_url, run_id, owner, org, settings
):
    settings.TASK_QUEUE_PREFIX = run_id
    user = make_colleague(owner)

    with celery_broker(broker_url):
        response = owner.client.post(
            f"/api/organizations/{org.pk}/add_member/", {"user_id": user.pk}
        )
        assert response.status_code == 201, response.data
        event = Event.objects.get(type="member.joined")
        # Many sweeps at once: every pool process races for the same pending event...
        for _ in range(20):
            assert publish(outbox_dispatch, queue="default")
        delivery = _wait_for(
            lambda: EventDelivery.objects.filter(event=event).first(), DELIVERY_TIMEOUT, "fan-out"
        )
        # ...and for the same delivery.
        for _ in range(10):
            assert publish(outbox_deliver, delivery.pk, queue="email")
        _wait_for(
            lambda: EventDelivery.objects.filter(pk=delivery.pk, status="delivered").exists(),
            DELIVERY_TIMEOUT,
            "the delivery",
        )
        _wait_for(lambda: _queued(broker_url, run_id) == 0, DELIVERY_TIMEOUT, "empty queues")
        time.sleep(1)  # tasks taken but still running finish

    assert EventDelivery.objects.filter(event=event).count() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    sent = "".join(path.read_text() for path in workers.iterdir())
    assert sent.count(f"X-CRM-Event-ID: {event.pk}") == 1
    assert f"To: {user.email}" in sent
