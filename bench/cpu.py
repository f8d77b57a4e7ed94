#!/usr/bin/env python3
"""Milliseconds per request of each benchmark scenario, in-process (no gunicorn, no wrk).

A steadier companion to `make bench` on a shared machine: wrk's figures move with whatever
else runs, this measures one request at a time with Django's test client against the seeded
`crm_bench_1m` database (same production settings as the benchmark server) and prints the median
and p90 of wall time over `--repeat` requests after a warm-up, and the median CPU time of this
process alone (steadier still: it leaves out PostgreSQL and whatever else the machine runs).
Used to check each change of the second and later performance rounds before running wrk
(bench/RESULTS.md).

    .venv/bin/python bench/cpu.py [--database crm_bench_1m] [--repeat 200] [--scenarios a,b]
"""

import argparse
import cProfile
import json
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="crm_bench_1m")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--scenarios", default="")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed requests")
    args = parser.parse_args()
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.database}",
        DEBUG="false",
        SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdef",
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="false",
        BENCH_ENDPOINTS="true",
        THROTTLE_USER_RATE="100000000/min",
        THROTTLE_ANON_RATE="100000000/min",
        DATABASE_CONN_MAX_AGE="60",
        LOG_LEVEL="WARNING",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")
    import django

    django.setup()
    import logging

    from django.test import Client

    logging.getLogger("crmApp.requests").setLevel(logging.WARNING)  # one line per request
    info = json.loads((ROOT / "bench" / ".state" / f"{args.database}.json").read_text())
    login = Client().post(
        "/api/auth/login/",
        {"email": info["email"], "password": info["password"]},
        content_type="application/json",
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {login.json()['tokens']['access']}")
    org, stages = info["organization"], info["stages"]
    c_lo, c_hi = info["customer_ids"]
    d_lo, d_hi = info["open_deal_ids"]
    counter = iter(range(10**9))
    tag = f"{os.getpid()}-{time.time_ns()}"
    scenarios = {
        "bare": lambda: client.get(f"/api/bench/customers/?organization={org}&page_size=50"),
        "customers_list": lambda: client.get("/api/customers/?page_size=50"),
        "leads_search": lambda: client.get(f"/api/leads/?search={info['search']}&page_size=50"),
        "deals_by_stage": lambda: client.get(f"/api/deals/?stage={stages[2]}&page_size=50"),
        "customer_detail": lambda: client.get(f"/api/customers/{random.randint(c_lo, c_hi)}/"),
        "lead_create": lambda: client.post(
            "/api/leads/",
            {
                "organization": org,
                "name": f"Cpu Lead {tag}-{next(counter)}",
                "email": f"cpu-{tag}-{next(counter)}@bench.example.com",
            },
            content_type="application/json",
        ),
        "deal_move_stage": lambda: client.post(
            f"/api/deals/{random.randint(d_lo, d_hi)}/move_stage/",
            {"stage_id": random.choice(stages[:4])},
            content_type="application/json",
        ),
        "deals_stats": lambda: client.get("/api/deals/stats/"),
        "leads_stats": lambda: client.get("/api/leads/stats/"),
    }
    chosen = [s for s in args.scenarios.split(",") if s] or list(scenarios)
    for name in chosen:
        call = scenarios[name]
        for _ in range(max(5, args.repeat // 10)):
            response = call()
            assert response.status_code < 300, (name, response.status_code, response.content)
        times, cpu_times = [], []
        profiler = cProfile.Profile() if args.profile else None
        for _ in range(args.repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            if profiler:
                profiler.runcall(call)
            else:
                call()
            times.append((time.perf_counter() - started) * 1000)
            cpu_times.append((time.process_time() - cpu_started) * 1000)
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
                int(os.environ.get("BENCH_TOP", "25"))
            )
        times.sort()
        p90 = times[int(len(times) * 0.9) - 1]
        median = statistics.median(times)
        cpu = statistics.median(cpu_times)
        print(
            f"{name:16} median {median:6.2f} ms   p90 {p90:6.2f} ms   app CPU {cpu:6.2f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
