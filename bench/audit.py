#!/usr/bin/env python3
"""Audit log and timeline at scale: PostgreSQL + gunicorn + wrk; writes bench/AUDIT.md.

    .venv/bin/python bench/audit.py [--audit-rows 1000000] [--activities 200000] [--duration 10]

Creates `crm_bench_audit` (dropped first), migrates it and seeds ONE organization with 10,000
customers, `--activities` activities and `--audit-rows` audit rows (COPY). One "hot" customer
carries 2,000 activities and 10,000 audit rows; the rest are spread over the other customers.
Then gunicorn serves the app as `bench/run.py` does (production settings, 2 sync workers,
persistent connections) and wrk (-t2 -c16) drives, after a warm-up:

- `timeline_hot`: the hot customer's timeline, first page (25 entries, as the owner, who holds
  audit:view, so all three sources are read);
- `timeline_random`: the first page of a random customer's timeline;
- `timeline_deep`: a page far down the hot customer's timeline (a cursor 1,000 entries in);
- `audit_list`: the organization's audit list, first page; `audit_record`: one record's rows;
- `bare`: the bare `.values()` + `JsonResponse` customer list (the ratio's denominator).

It also counts the statements of one customer PATCH in-process and how many of them touch the
audit table (the audit adds exactly one). Never part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from run import STATE, Server, bench_server_env, http, log, login, run_wrk

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "crm_bench_audit"
PG = "postgres://postgres@127.0.0.1:5432"
CUSTOMERS = 10_000
HOT_ACTIVITIES = 2_000
HOT_AUDIT = 10_000
PASSWORD = "Bench-Passw0rd!"


def copy(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as target:
        for row in rows:
            target.write_row(row)


def seed(activities: int, audit_rows: int) -> dict:
    from django.db import connection

    from crmApp.models import Customer, Employee, User
    from crmApp.services.organizations import organization_create

    random.seed(11)
    owner = User.objects.create_user(
        email="owner@audit.bench", username="audit-owner", password=PASSWORD
    )
    organization = organization_create(owner=owner, name="Audit bench")
    employees = [
        Employee.objects.create(
            organization=organization, first_name=f"E{n}", last_name="B", email=f"e{n}@a.bench"
        )
        for n in range(20)
    ]
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        raw = cursor.connection.cursor()
        copy(
            raw,
            "customers",
            [
                "organization_id",
                "code",
                "name",
                "email",
                "customer_type",
                "status",
                "tags",
                "created_at",
                "updated_at",
            ],
            (
                (
                    organization.pk,
                    f"CUS-{n:06d}",
                    f"Customer {n}",
                    f"c{n}@a.bench",
                    "business",
                    "active",
                    "[]",
                    start,
                    start,
                )
                for n in range(CUSTOMERS)
            ),
        )
        ids = list(
            Customer.objects.filter(organization=organization)
            .order_by("id")
            .values_list("id", flat=True)
        )
        hot = ids[0]

        def moment() -> dt.datetime:
            return start + dt.timedelta(seconds=random.randrange(0, 300 * 86400))

        def parent() -> int:
            return hot if random.random() < HOT_ACTIVITIES / activities else random.choice(ids)

        copy(
            raw,
            "activities",
            [
                "organization_id",
                "type",
                "subject",
                "body",
                "due_at",
                "completed_at",
                "assignee_id",
                "customer_id",
                "created_by_id",
                "created_at",
                "updated_at",
            ],
            (
                (
                    organization.pk,
                    random.choice(["call", "meeting", "email", "note", "task"]),
                    f"Activity {n}",
                    "Talked about the renewal and next steps.",
                    (at := moment()) + dt.timedelta(days=3),
                    None if n % 3 else at + dt.timedelta(days=1),
                    random.choice(employees).pk,
                    parent(),
                    owner.pk,
                    at,
                    at,
                )
                for n in range(activities)
            ),
        )
        changes = json.dumps({"status": {"old": "active", "new": "inactive"}})

        def record() -> int:
            return hot if random.random() < HOT_AUDIT / audit_rows else random.choice(ids)

        copy(
            raw,
            "audit_events",
            [
                "organization_id",
                "actor_id",
                "request_id",
                "action",
                "resource",
                "record_id",
                "changes",
                "created_at",
            ],
            (
                (
                    organization.pk,
                    owner.pk,
                    f"req-{n}",
                    "updated",
                    "customer",
                    record(),
                    changes,
                    moment(),
                )
                for n in range(audit_rows)
            ),
        )
        cursor.execute("ANALYZE customers; ANALYZE activities; ANALYZE audit_events")
        cursor.execute("SELECT count(*) FROM activities WHERE customer_id = %s", [hot])
        hot_activities = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM audit_events WHERE resource = 'customer' AND record_id = %s",
            [hot],
        )
        hot_audit = cursor.fetchone()[0]
    return {
        "organization": organization.pk,
        "hot": hot,
        "customer_ids": (ids[0], ids[-1]),
        "hot_activities": hot_activities,
        "hot_audit": hot_audit,
    }


def statements_per_write(info: dict) -> dict:
    """The statements of one customer PATCH through the API, and those touching the audit."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from crmApp.models import User
    from crmApp.services.auth import session_start

    owner = User.objects.get(email="owner@audit.bench")
    tokens = session_start(user=owner, ip_address="127.0.0.1", device_info="bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    url = f"/api/customers/{info['hot'] + 1}/"
    client.patch(url, {"industry": "Warm-up"}, format="json")
    with CaptureQueriesContext(connection) as ctx:
        response = client.patch(url, {"industry": "Measured"}, format="json")
    assert response.status_code == 200, response.content
    audit = [q["sql"] for q in ctx.captured_queries if "audit_events" in q["sql"]]
    alone = [sql for sql in audit if sql.startswith("INSERT")]  # not riding in another statement
    return {"total": len(ctx.captured_queries), "audit": len(audit), "audit_alone": len(alone)}


def sql_times(paths: dict[str, str]) -> dict[str, list[float]]:
    """Per path: the PostgreSQL execution time (ms, EXPLAIN ANALYZE) of each statement the
    request runs after authentication, i.e. what the data size costs, apart from the CPU of a
    loaded machine. Each statement is run once to warm the cache first."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from crmApp.models import User
    from crmApp.services.auth import session_start

    owner = User.objects.get(email="owner@audit.bench")
    tokens = session_start(user=owner, ip_address="127.0.0.1", device_info="bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    times = {}
    for name, path in paths.items():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200, path
        # after authentication (the session, its user and access in one statement)
        statements = [q["sql"] for q in ctx.captured_queries][1:]
        measured = []
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
                measured.append(round(cursor.fetchone()[0][0]["Execution Time"], 2))
        times[name] = measured
    return times


def deep_cursor(server: Server, token: str, hot: int) -> str:
    """The cursor 1,000 entries down the hot customer's timeline (ten 100-entry pages)."""
    link = f"{server.base}/api/customers/{hot}/timeline/?page_size=100"
    for _ in range(10):
        status, body = http("GET", link, token)
        assert status == 200, body[:300]
        link = json.loads(body)["next"]
    return link.split("cursor=")[1].split("&")[0]


def scripts(info: dict, token: str, cursor: str) -> dict[str, str]:
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    lo, hi = info["customer_ids"]
    hot, org = info["hot"], info["organization"]

    def get(path: str) -> str:
        return auth + f'wrk.path = "{path}"\n'

    seeded_random = (
        "local started = 0\n"
        "function setup(thread) started = started + 1; thread:set('tid', started) end\n"
        "function init(args) math.randomseed(os.time() * 100 + tid) end\n"
    )
    return {
        "bare": get(f"/api/bench/customers/?organization={org}&page_size=25"),
        "timeline_hot": get(f"/api/customers/{hot}/timeline/?page_size=25"),
        "timeline_random": auth
        + seeded_random
        + "request = function()\n"
        + f'  return wrk.format("GET", "/api/customers/" .. math.random({lo}, {hi}) '
        + '.. "/timeline/?page_size=25")\nend\n',
        "timeline_deep": get(f"/api/customers/{hot}/timeline/?page_size=25&cursor={cursor}"),
        "audit_list": get("/api/audit-events/?page_size=25"),
        "audit_record": get(f"/api/audit-events/?resource=customer&record_id={hot}&page_size=25"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit-rows", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=200_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed")
    STATE.mkdir(exist_ok=True)
    url = f"{PG}/{DATABASE}"
    if not args.reuse:
        subprocess.run(
            ["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {DATABASE}"], check=True
        )
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {DATABASE}"], check=True)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DEBUG": "true",
            "BENCH_ENDPOINTS": "true",
            "DJANGO_SETTINGS_MODULE": "crmAdmin.settings",
            "THROTTLE_USER_RATE": "100000000/min",
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    info = existing() if args.reuse else seed(args.activities, args.audit_rows)
    seeded = time.perf_counter() - began
    log(f"seeded in {seeded:.0f} s: {info}")
    writes = statements_per_write(info)
    log(f"statements per customer PATCH: {writes}")
    hot = info["hot"]
    sql = sql_times(
        {
            "timeline_hot": f"/api/customers/{hot}/timeline/?page_size=25",
            "audit_list": "/api/audit-events/?page_size=25",
            "audit_record": f"/api/audit-events/?resource=customer&record_id={hot}&page_size=25",
        },
    )
    log(f"SQL execution times: {sql}")

    server_env = bench_server_env(port=args.port, workers=args.workers)
    results = {}
    with Server(server_env, args.port) as server:
        token = login(server, {"email": "owner@audit.bench", "password": PASSWORD})
        cursor = deep_cursor(server, token, info["hot"])
        wrk_args = SimpleNamespace(
            threads=args.threads,
            connections=args.connections,
            warmup=args.warmup,
            duration=args.duration,
        )
        for name, lua in scripts(info, token, cursor).items():
            log(f"{name}: wrk {args.duration}s")
            results[name] = run_wrk(wrk_args, server, f"audit_{name}", lua)
            log(f"{name}: {results[name]}")
    write_report(args, info, seeded, writes, results, sql)


def existing() -> dict:
    """The figures `seed` returned, read back from a database it seeded earlier."""
    from crmApp.models import Activity, AuditEvent, Customer

    ids = list(Customer.objects.order_by("id").values_list("id", flat=True))
    hot = ids[0]
    return {
        "organization": Customer.objects.get(pk=hot).organization_id,
        "hot": hot,
        "customer_ids": (ids[0], ids[-1]),
        "hot_activities": Activity.objects.filter(customer_id=hot).count(),
        "hot_audit": AuditEvent.objects.filter(resource="customer", record_id=hot).count(),
    }


def write_report(
    args, info: dict, seeded: float, writes: dict, results: dict, sql: dict[str, list[float]]
) -> None:
    bare = results["bare"]["rps"]
    seed_note = "" if args.reuse else f" in {seeded:.0f} s"
    lines = [
        "# Audit log and timeline at scale",
        "",
        f"PostgreSQL, one organization: {args.audit_rows:,} audit rows, {args.activities:,} "
        f"activities, {CUSTOMERS:,} customers (seeded by COPY{seed_note}). The hot "
        f"customer has {info['hot_activities']:,} activities and {info['hot_audit']:,} audit "
        f"rows. gunicorn {args.workers} sync workers, DEBUG off, CONN_MAX_AGE=60; wrk "
        f"-t{args.threads} -c{args.connections} -d{args.duration}s after {args.warmup}s of "
        f"warm-up, on loopback, on a shared 2-core machine (load average "
        f"{os.getloadavg()[0]:.1f} when the report was written: other jobs were running, so the "
        "HTTP figures measure the machine's contention more than this code). "
        "`bench/audit.py` regenerates this file.",
        "",
        "| scenario | req/s | p50 ms | p90 ms | p99 ms | ratio to bare | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in results.items():
        ratio = f"{row['rps'] / bare:.2f}" if bare else "-"
        lines.append(
            f"| {name} | {row['rps']:.0f} | {row['p50']:.1f} | {row['p90']:.1f} | "
            f"{row['p99']:.1f} | {ratio} | {row['errors']} |"
        )
    lines += [
        "",
        "PostgreSQL execution time of each statement after authentication (EXPLAIN ANALYZE, "
        "warm cache, ms), i.e. what 1M audit rows and 200k activities cost the database:",
        "",
        *(f"- {name}: {', '.join(str(t) for t in times)}" for name, times in sql.items()),
    ]
    lines += [
        "",
        f"Statements of one customer PATCH through the API (in-process, no broker: the "
        "outbox dispatch that runs after the commit is counted too): "
        f"{writes['total']}, of which {writes['audit']} write the audit row, "
        + (
            "as a statement of its own"
            if writes["audit_alone"]
            else "inside the event's statement (one statement with the event on PostgreSQL: "
            "the audit adds no round trip)"
        )
        + ". `tests/api/test_audit.py` pins it (and one bulk INSERT for a bulk delete).",
        "",
    ]
    (ROOT / "bench" / "AUDIT.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
