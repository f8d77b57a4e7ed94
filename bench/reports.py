#!/usr/bin/env python3
"""Report timings on PostgreSQL: seeds `crm_bench_reports`, times each report in-process.

    .venv/bin/python bench/reports.py [--deals 100000] [--rows-per-deal 10] [--runs 20]
                                      [--database crm_bench_reports] [--reuse] [--http]
                                      [--redis redis://127.0.0.1:6379/13]

Recreates the database (`--reuse` keeps one a previous run seeded, after migrating it), and
seeds one organization with a pipeline of six stages, `--deals` deals and about
`--rows-per-deal` stage-history rows each (COPY, so the 1M rows take seconds).
Each report is then called through Django's test client as the owner (authentication, filter
validation, the report queries and JSON rendering included), after one warm-up request that
only pays the process's first-request costs (URL resolving, the first connection): once (the
first request, which computes the figures), then `--runs` times with the cache emptied before
each (every run a cache miss: what computing the figures costs), then `--runs` times as they
come (huge tenants' figures served from the cache). The times in milliseconds are written to
bench/REPORTS.md (whose notes below the table are kept). With `--http` each report is also
served by gunicorn under wrk at 16 connections (the issue's measure), appended to the table;
the server's cache is Redis (`--redis`, database 13 by default, emptied before each report),
as in production.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "crm_bench_reports"
STATE = ROOT / "bench" / ".state"
#: Where REPORTS.md's notes start: everything from it on is kept when the table is rewritten.
NOTES = "<!-- notes -->"
#: A stay lasts from 10 minutes to 60 days, log-uniform (µs).
STAY_LOG_LOW, STAY_LOG_HIGH = math.log(600_000_000), math.log(60 * 86_400_000_000)
DAY_MICROS = 86_400_000_000
PATHS = ["funnel", "time-in-stage", "win-rate", "velocity", "forecast", "lead-sources"]


def setup(database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("THROTTLE_USER_RATE", "1000000/hour")
    import django

    django.setup()


def copy(cursor, table: str, columns: list[str], rows) -> None:
    """COPY rows into `table` (psycopg 3 adapts each Python value)."""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as target:
        for row in rows:
            target.write_row(row)


def seed(deals: int, rows_per_deal: int):
    import datetime as dt
    import random

    from django.db import connection

    from crmApp.models import Deal, Employee, Pipeline, PipelineStage
    from crmApp.services.stage_tallies import stage_tallies_rebuild
    from tests.conftest import make_member
    from tests.factories import CustomerFactory, OrganizationFactory

    random.seed(7)
    organization = OrganizationFactory(name="Reports bench")
    owner = make_member(organization, owner=True)
    pipeline = Pipeline.objects.create(organization=organization, name="Bench")
    stages = [
        PipelineStage.objects.create(
            pipeline=pipeline, name=f"Stage {n}", order=n, probability=10 * (n + 1), rotting_days=30
        )
        for n in range(6)
    ]
    employees = [
        Employee.objects.create(
            organization=organization, first_name=f"E{n}", last_name="B", email=f"e{n}@b.example"
        )
        for n in range(20)
    ]
    customer = CustomerFactory(organization=organization)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        raw = cursor.connection.cursor()
        deal_rows = []
        for n in range(deals):
            created = start + dt.timedelta(microseconds=random.randrange(700 * DAY_MICROS))
            outcome = random.random()
            won, lost = outcome < 0.3, 0.3 <= outcome < 0.55
            close = (created + dt.timedelta(days=random.randrange(1, 90))).date()
            stage = stages[random.randrange(6)]
            deal_rows.append(
                (
                    organization.pk,
                    f"D-{n}",
                    f"Deal {n}",
                    customer.pk,
                    pipeline.pk,
                    stage.pk,
                    random.choice(employees).pk,
                    random.randrange(100, 100000),
                    "USD",
                    stage.probability,
                    won,
                    lost,
                    "closed" if won or lost else "active",
                    close if won or lost else None,
                    (created + dt.timedelta(days=120)).date(),
                    "medium",
                    "[]",
                    random.choice(["website", "referral", "event"]),
                    created,
                    created,
                )
            )
        copy(
            raw,
            "deals",
            [
                "organization_id",
                "code",
                "title",
                "customer_id",
                "pipeline_id",
                "stage_id",
                "assigned_to_id",
                "value",
                "currency",
                "probability",
                "is_won",
                "is_lost",
                "status",
                "actual_close_date",
                "expected_close_date",
                "priority",
                "tags",
                "source",
                "created_at",
                "updated_at",
            ],
            deal_rows,
        )
        cursor.execute(
            "SELECT id, created_at FROM deals WHERE organization_id = %s", [organization.pk]
        )
        history = []
        for deal_id, created in cursor.fetchall():
            moment = created
            for step in range(rows_per_deal):
                # Real stays differ to the microsecond and spread over decades (minutes to
                # months): log-uniform from 10 minutes to 60 days. Whole hours would put every
                # duration in a few hundred distinct values and flatter the tallies.
                lasted = math.exp(random.uniform(STAY_LOG_LOW, STAY_LOG_HIGH))
                left = moment + dt.timedelta(microseconds=round(lasted))
                last = step == rows_per_deal - 1
                history.append(
                    (
                        organization.pk,
                        deal_id,
                        stages[step % 6].pk,
                        "open",
                        moment,
                        None if last else left,
                        owner.user.pk,
                    )
                )
                moment = left
        copy(
            raw,
            "deal_stage_history",
            [
                "organization_id",
                "deal_id",
                "stage_id",
                "outcome",
                "entered_at",
                "left_at",
                "actor_id",
            ],
            history,
        )
    # The history was copied past the deal services: its funnel and stay tallies are built once
    # here.
    stage_tallies_rebuild(organization_id=organization.pk)
    with connection.cursor() as cursor:
        # What autovacuum soon does after bulk inserts: statistics for the planner, and the
        # visibility map that lets the owner reports' index-only scans skip the heap. The
        # pipeline's six stages stay unanalysed, as a tenant's few stages are in production
        # (autovacuum waits for 50 changed rows); the reports must plan well without them.
        cursor.execute(
            "VACUUM (ANALYZE) deals, deal_stage_history, stage_entry_tallies, stay_tallies, "
            "open_stay_tallies"
        )
    assert Deal.objects.filter(organization=organization).count() == deals
    return owner, pipeline, employees[0]


def reseated(info: dict):
    """The owner (a client logged in again), pipeline and employee of a reused database."""
    from crmApp.models import Employee, Pipeline, User
    from tests.conftest import Member, authenticated_client

    user = User.objects.get(pk=info["user"])
    organization = Pipeline.objects.get(pk=info["pipeline"]).organization
    client, access, refresh = authenticated_client(user)
    owner = Member(
        user=user, organization=organization, client=client, access=access, refresh=refresh
    )
    return (
        owner,
        Pipeline.objects.get(pk=info["pipeline"]),
        Employee.objects.get(pk=info["employee"]),
        info["seconds"],
    )


def report_queries(pipeline, employee) -> list[tuple[str, str]]:
    """Each report unfiltered and narrowed to a pipeline, an owner and a start day (lead
    sources have no pipeline)."""
    narrowed = f"owner={employee.pk}&from=2024-06-01"
    return [
        (path, query)
        for path in PATHS
        for query in (
            "",
            narrowed if path == "lead-sources" else f"pipeline={pipeline.pk}&{narrowed}",
        )
    ]


def http_table(args, user, pipeline, employee) -> list[str]:
    """Each report through gunicorn (2 sync workers, production settings) under wrk at 16
    connections for `--duration` s, with no warm-up and the cache emptied before each report:
    the first requests of a run compute the figures (a miss), the rest are served as a client
    would be. The cache is Redis (`--redis`), as in production, where figures are shared by
    the workers and small ones are kept under the organization's version; `--redis ''` gives
    each worker its own process-local cache, which keeps no versions."""
    from types import SimpleNamespace

    from django.conf import settings

    from crmApp.services.auth import session_start

    sys.path.insert(0, str(ROOT / "bench"))
    from run import Server, bench_server_env, run_wrk  # noqa: PLC0415 - bench/run.py's runner

    token = session_start(user=user, ip_address="127.0.0.1", device_info="bench").access
    # The token is minted here, so the server signs with this process's keys.
    server_env = bench_server_env(
        port=args.port,
        workers=2,
        SECRET_KEY=settings.SECRET_KEY,
        JWT_SIGNING_KEY=settings.SIMPLE_JWT["SIGNING_KEY"],
        REDIS_URL=args.redis,
    )
    cache_kind = "Redis, emptied before each report" if args.redis else "per process"
    wrk_args = SimpleNamespace(threads=2, connections=16, warmup=0, duration=args.duration)
    lines = [
        "",
        f"Through HTTP: gunicorn 2 sync workers, wrk -t2 -c16 -d{args.duration}s, no warm-up, "
        f"cache: {cache_kind} (the first requests of a run compute the figures).",
        "",
        "| report | query | req/s | p50 ms | p90 ms | p99 ms | non-2xx |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    with Server(server_env, args.port) as server:
        for path, query in report_queries(pipeline, employee):
            if args.redis:
                redis.Redis.from_url(args.redis).flushdb()
            script = (
                f'wrk.headers["Authorization"] = "Bearer {token}"\n'
                f'wrk.path = "/api/reports/{path}/?{query}"\n'
            )
            result = run_wrk(wrk_args, server, f"reports_{path}", script)
            lines.append(
                f"| {path} | `{query or '-'}` | {result['rps']:.0f} | {result['p50']:.1f} "
                f"| {result['p90']:.1f} | {result['p99']:.1f} | {result['errors']} |"
            )
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--rows-per-deal", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--reuse", action="store_true", help="keep a database seeded before")
    parser.add_argument(
        "--http", action="store_true", help="also wrk each report through gunicorn (16 connections)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/13",
        help="the server's cache (REDIS_URL); '' for a process-local cache per worker",
    )
    args = parser.parse_args()
    state = STATE / f"{args.database}.json"
    reuse = args.reuse and state.exists()
    if not reuse:
        for sql in (f"DROP DATABASE IF EXISTS {args.database}", f"CREATE DATABASE {args.database}"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", sql], check=True)
    setup(f"postgres://postgres@127.0.0.1:5432/{args.database}")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    if reuse:
        owner, pipeline, employee, seeded = reseated(json.loads(state.read_text()))
    else:
        owner, pipeline, employee = seed(args.deals, args.rows_per_deal)
        seeded = time.perf_counter() - began
        STATE.mkdir(exist_ok=True)
        state.write_text(
            json.dumps(
                {
                    "user": owner.user.pk,
                    "pipeline": pipeline.pk,
                    "employee": employee.pk,
                    "seconds": round(seeded),
                }
            )
        )
    lines = [
        "# Report timings",
        "",
        f"PostgreSQL, one organization: {args.deals:,} deals, "
        f"{args.deals * args.rows_per_deal:,} stage-history rows (seeded in {seeded:.0f} s). "
        f"In-process (Django test client, authentication and rendering included): the first "
        f"request after a warm-up, {args.runs} runs with the cache emptied before each (misses), "
        f"{args.runs} runs as served (p50, p99). `bench/reports.py` regenerates this table.",
        "",
        "| report | query | first request ms | miss p50 ms | miss p99 ms | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    from django.core.cache import cache

    def timed(url: str) -> float:
        began = time.perf_counter()
        assert owner.client.get(url).status_code == 200, url
        return (time.perf_counter() - began) * 1000

    def percentiles(times: list[float]) -> tuple[float, float]:
        times = sorted(times)
        return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]

    owner.client.get("/api/reports/funnel/?colour=red")  # warm-up: a 400, no report computed
    cache.clear()
    for path, query in report_queries(pipeline, employee):
        url = f"/api/reports/{path}/?{query}"
        first = timed(url)
        misses = []
        for _ in range(args.runs):
            cache.clear()
            misses.append(timed(url))
        hits = [timed(url) for _ in range(args.runs)]
        (miss50, miss99), (hit50, hit99) = percentiles(misses), percentiles(hits)
        lines.append(
            f"| {path} | `{query or '-'}` | {first:.1f} | {miss50:.1f} | {miss99:.1f} "
            f"| {hit50:.1f} | {hit99:.1f} |"
        )
        print(lines[-1], flush=True)
    if args.http:
        lines += http_table(args, owner.user, pipeline, employee)
    target = ROOT / "bench" / "REPORTS.md"
    previous = target.read_text() if target.exists() else ""
    notes = previous[previous.index(NOTES) :] if NOTES in previous else ""
    target.write_text("\n".join(lines) + "\n\n" + notes)


if __name__ == "__main__":
    main()
