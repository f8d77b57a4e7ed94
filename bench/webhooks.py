"""Webhook throughput and the cost of an idempotent POST (Redis + PostgreSQL).

    .venv/bin/python bench/webhooks.py [--events 1000] [--concurrency 2] [--posts 300]

1. Deliveries per second: creates (or empties) the database `crm_bench_webhooks`, migrates it,
   starts a local HTTP receiver (http.server, threaded, answers 200) and registers it as the
   endpoint of an organization (WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true), records N
   `customer.created` events in one transaction, starts two `celery -A crmAdmin worker`
   processes on queues unique to the run, nudges the dispatcher and times until every webhook
   delivery is `succeeded`: outbox fan-out, one delivery task per event through Redis, the
   address check, the signed POST and the update. Checks the receiver got each event once.
2. The cost of `Idempotency-Key`: in-process timing of `POST /api/customers/` through the whole
   Django stack (middleware, JWT, view, service, event) without a key, with a new key each
   time, and replays of a stored key. Medians in milliseconds.

Never part of the test suite.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from workers import celery_workers, seconds_until

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
BROKER = "redis://127.0.0.1:6379/13"


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.ids: list[str] = []


def start_receiver(counter: Counter) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with counter.lock:
                counter.ids.append(self.headers["X-CRM-Event-ID"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def deliveries_per_second(args, env, prefix) -> None:
    from django.conf import settings
    from django.db import transaction

    from crmApp.models import User, WebhookDelivery
    from crmApp.services.events import event_record
    from crmApp.services.organizations import organization_create
    from crmApp.services.webhooks import webhook_endpoint_create
    from crmApp.tasks import outbox_dispatch, publish

    counter = Counter()
    server = start_receiver(counter)
    owner = User.objects.create_user(email="owner@bench.example", username="owner", password="x")
    organization = organization_create(owner=owner, name="Bench webhooks")
    webhook_endpoint_create(
        organization=organization,
        url=f"http://127.0.0.1:{server.server_address[1]}/hook",
        actor=owner,
    )
    with transaction.atomic():
        for n in range(args.events):
            event_record(
                organization_id=organization.pk,
                type="customer.created",
                resource="customer",
                resource_id=n + 1,
                actor=owner,
                snapshot={"id": n + 1, "name": f"Customer {n}", "email": f"c{n}@example.com"},
            )

    queues = ",".join(prefix + kind for kind in settings.TASK_QUEUES)
    try:
        with celery_workers(queues=queues, concurrency=args.concurrency, prefix=prefix, env=env):
            started = time.perf_counter()
            for _ in range(2 * args.concurrency):
                publish(outbox_dispatch, queue="default")
            seconds_until(
                lambda: WebhookDelivery.objects.filter(status="succeeded").count(),
                target=args.events,
            )
            seconds = time.perf_counter() - started
    finally:
        server.shutdown()
    attempts = sum(WebhookDelivery.objects.values_list("attempts", flat=True))
    once = len(counter.ids) == len(set(counter.ids)) == args.events == attempts
    print(
        f"webhooks delivered:   {args.events} in {seconds:.2f} s "
        f"({args.events / seconds:,.0f}/s, 2 workers x {args.concurrency} processes)"
    )
    print(f"receiver got:         {len(counter.ids)} requests (each event once: {once})")


def idempotent_post_cost(args) -> None:
    import logging

    from django.test import Client

    from crmApp.models import Organization, User
    from crmApp.services.auth import session_start

    logging.getLogger("crmApp.requests").setLevel(logging.WARNING)
    owner = User.objects.get(email="owner@bench.example")
    organization = Organization.objects.get(name="Bench webhooks")
    tokens = session_start(user=owner, ip_address="127.0.0.1", device_info="bench")
    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {tokens.access}",
        HTTP_X_ORGANIZATION_ID=str(organization.pk),
    )
    body = '{"name": "Ada", "email": "ada@example.com"}'

    def timed(**headers) -> float:
        started = time.perf_counter()
        response = client.post("/api/customers/", body, content_type="application/json", **headers)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 201, response.content
        return elapsed

    for _ in range(30):  # warm up
        timed()
    plain, keyed, replayed = [], [], []
    for n in range(args.posts):  # interleaved, so drift hits all three alike
        plain.append(timed())
        keyed.append(timed(HTTP_IDEMPOTENCY_KEY=f"k-{n}"))
        replayed.append(timed(HTTP_IDEMPOTENCY_KEY="k-0"))
    for name, values in (("no key", plain), ("new key", keyed), ("replay", replayed)):
        print(
            f"POST /api/customers/ {name:8} median {statistics.median(values):6.2f} ms  "
            f"p90 {statistics.quantiles(values, n=10)[-1]:6.2f} ms  (n={len(values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per worker")
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--database", default="crm_bench_webhooks")
    args = parser.parse_args()

    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    env = {
        **{k: v for k, v in os.environ.items() if k != "CRM_SERVING"},
        "DATABASE_URL": f"{PG}/{args.database}",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_QUEUE_PREFIX": prefix,
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "THROTTLE_USER_RATE": "1000000/hour",
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "false",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "crmAdmin.settings",
    }
    os.environ.update(env)
    for sql in (f"DROP DATABASE IF EXISTS {args.database}", f"CREATE DATABASE {args.database}"):
        subprocess.run(["psql", PG + "/postgres", "-qc", sql], check=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    deliveries_per_second(args, env, prefix)
    idempotent_post_cost(args)


if __name__ == "__main__":
    main()
