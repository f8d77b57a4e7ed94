"""Outbox throughput: events dispatched per second by two Celery workers (Redis + PostgreSQL).

    .venv/bin/python bench/events.py [--events 2000] [--concurrency 2] [--database crm_bench_events]

Creates (or empties) the database, migrates it, records N `member.joined` events in one
transaction (as a bulk change would), then starts two `celery -A crmAdmin worker` processes on
queues unique to the run, sends one dispatch nudge per worker process and measures the time until
every delivery is `delivered`. The consumer is the real welcome mail with Django's dummy mail
backend, so the figure is the outbox's own cost (fan-out, claims, locks, task round trips), not
an SMTP server's. Never part of the test suite.
"""

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from workers import celery_workers, seconds_until

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
BROKER = "redis://127.0.0.1:6379/14"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per worker")
    parser.add_argument("--database", default="crm_bench_events")
    args = parser.parse_args()

    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    env = {
        **{k: v for k, v in os.environ.items() if k != "CRM_SERVING"},
        "DATABASE_URL": f"{PG}/{args.database}",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_QUEUE_PREFIX": prefix,
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "crmAdmin.settings",
    }
    os.environ.update(env)
    subprocess.run(
        ["psql", PG + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {args.database}"], check=True
    )
    subprocess.run(
        ["psql", PG + "/postgres", "-qc", f"CREATE DATABASE {args.database}"], check=True
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )

    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.db import transaction

    from crmApp.models import EventDelivery, User
    from crmApp.services.events import event_record
    from crmApp.services.organizations import organization_create
    from crmApp.tasks import outbox_dispatch, publish

    owner = User.objects.create_user(email="owner@bench.example", username="owner", password="x")
    organization = organization_create(owner=owner, name="Bench events")
    members = User.objects.bulk_create(
        User(email=f"m{n}@bench.example", username=f"m{n}") for n in range(args.events)
    )
    started = time.perf_counter()
    with transaction.atomic():
        for member in members:
            event_record(
                organization_id=organization.pk,
                type="member.joined",
                resource="member",
                resource_id=member.pk,
                actor=owner,
                snapshot={"user_id": member.pk, "organization_id": organization.pk},
            )
    record_seconds = time.perf_counter() - started

    queues = ",".join(prefix + kind for kind in settings.TASK_QUEUES)
    with celery_workers(queues=queues, concurrency=args.concurrency, prefix=prefix, env=env):
        started = time.perf_counter()
        for _ in range(2 * args.concurrency):
            publish(outbox_dispatch, queue="default")
        seconds_until(
            lambda: EventDelivery.objects.filter(status="delivered").count(), target=args.events
        )
        seconds = time.perf_counter() - started
    attempts = sum(EventDelivery.objects.values_list("attempts", flat=True))
    print(
        f"events recorded:      {args.events} in {record_seconds:.2f} s "
        f"({args.events / record_seconds:,.0f}/s, one transaction)"
    )
    print(
        f"events dispatched:    {args.events} in {seconds:.2f} s "
        f"({args.events / seconds:,.0f}/s, 2 workers x {args.concurrency} processes)"
    )
    print(f"consumer runs:        {attempts} (exactly once each: {attempts == args.events})")


if __name__ == "__main__":
    main()
