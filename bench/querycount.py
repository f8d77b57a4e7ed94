#!/usr/bin/env python3
"""SQL queries per benchmark scenario, counted in-process with Django's test client.

Run by bench/run.py with the server's environment plus BENCH_TOKEN (a JWT of the benchmark
user) and BENCH_SAMPLES (scenario -> [method, path, body]). Each request is made twice: *cold* is
the first request of the process (the list count is not cached yet), *warm* the second. Prints one
JSON line.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def count(client: Client, method: str, path: str, body) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data=json.dumps(body), content_type="application/json")
    if os.environ.get("BENCH_SHOW_SQL"):
        print(f"--- {method} {path} -> {response.status_code}", file=sys.stderr)
        for query in queries.captured_queries:
            print("   ", query["sql"][:160], file=sys.stderr)
    return response.status_code, len(queries)


def other_stages(client: Client, move_path: str):
    """Open stages of the deal's pipeline, each different from the one before, starting with
    one the deal is not in: every counted move then changes the stage (and its history)."""
    deal = client.get(move_path.replace("move_stage/", "")).json()
    stages = [
        s["id"]
        for s in deal["pipeline"]["stages"]
        if not s["is_closed_won"] and not s["is_closed_lost"]
    ]
    current = deal["stage"]["id"] if deal["stage"] else None
    while True:
        for stage in stages:
            if stage != current:
                yield stage
                current = stage


def main() -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {os.environ['BENCH_TOKEN']}")
    samples = json.loads(os.environ["BENCH_SAMPLES"])
    results = {}
    for name, (method, path, body) in samples.items():
        if name == "lead_create":
            body = {**body, "email": "querycount-1@bench.example.com"}
        if name == "deal_move_stage":
            moves = other_stages(client, path)
            body = {"stage_id": next(moves)}
        status, cold = count(client, method, path, body)
        if name == "lead_create":
            body = {**body, "email": "querycount-2@bench.example.com"}
        if name == "deal_move_stage":
            body = {"stage_id": next(moves)}  # a real move again, not a move to where it is
        status, warm = count(client, method, path, body)
        results[name] = {"status": status, "cold": cold, "warm": warm}
    pages = {}
    for size in (10, 50, 100):
        path = f"/api/customers/?page_size={size}&page=2"
        _, cold = count(client, "GET", path, None)
        _, warm = count(client, "GET", path, None)
        pages[str(size)] = {"cold": cold, "warm": warm}
    results["_page_sizes"] = pages
    print(json.dumps(results))


if __name__ == "__main__":
    main()
