"""One import's chunks run in this process: CPU per 1,000 rows, for before/after comparisons.

    DATABASE_URL=postgres://... .venv/bin/python bench/import_cpu.py --rows 4000 [--profile]

Makes (or reuses) one organization ("Import CPU") and its owner, empties its leads, writes a CSV of
`--rows` leads like bench/imports.py, creates the job through the service and runs its planning
and every chunk here, one after the other (no Celery). Reports, per 1,000 rows: this process's
CPU time (validation, building rows, binding parameters), the PostgreSQL backend's CPU time
(read from /proc, same machine) and the wall time; then the same file again as an upsert.
`--profile` prints the top of a cProfile of the create (and saves it in bench/.state);
`--gc-freeze` freezes the objects loaded at startup, as the Celery pool processes do. Never part
of the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")


def backend_cpu_seconds(connection) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() after setup, as the workers do"
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.db import connection
    from imports import write_csv

    from crmApp.importing import import_chunk, import_plan
    from crmApp.models import AuditEvent, Event, Lead, Organization, User
    from crmApp.services.imports import import_job_create
    from crmApp.services.organizations import organization_create

    owner = User.objects.filter(email="cpu.owner@example.com").first()
    if owner is None:
        owner = User.objects.create_user(
            email="cpu.owner@example.com", username="cpu-owner", password=uuid.uuid4().hex
        )
        organization_create(owner=owner, name="Import CPU")
    organization = Organization.objects.get(name="Import CPU")
    Lead.objects.filter(organization=organization).delete()
    Event.objects.filter(organization=organization).delete()
    AuditEvent.objects.filter(organization=organization).delete()

    path = ROOT / "bench" / ".state" / "cpu-leads.csv"
    path.parent.mkdir(exist_ok=True)
    write_csv(path, args.rows)
    content = path.read_bytes()
    columns = content.split(b"\n", 1)[0].decode().split(",")

    if args.gc_freeze:
        import gc

        gc.freeze()

    def run(mode: str, profile: bool) -> dict:
        job = import_job_create(
            organization_id=organization.pk,
            actor=owner,
            file=ContentFile(content, name="leads.csv"),
            resource="leads",
            mode=mode,
            match_on="external_id",
            dry_run=False,
            mapping={c: c for c in columns},
            columns=columns,
            encoding="utf-8",
            delimiter=",",
            file_name="leads.csv",
            file_size=len(content),
        )
        profiler = cProfile.Profile() if profile else None
        cpu, backend, wall = (
            time.process_time(),
            backend_cpu_seconds(connection),
            time.perf_counter(),
        )
        if profiler:
            profiler.enable()
        for chunk_id in import_plan(job.pk):
            import_chunk(chunk_id)
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu
        backend = backend_cpu_seconds(connection) - backend
        wall = time.perf_counter() - wall
        job.refresh_from_db()
        per = 1000 / args.rows
        result = {
            "mode": mode,
            "status": job.status,
            "created": job.rows_created,
            "updated": job.rows_updated,
            "unchanged": job.rows_unchanged,
            "failed": job.rows_failed,
            "python_cpu_ms_per_1000": round(cpu * per * 1000),
            "postgres_cpu_ms_per_1000": round(backend * per * 1000),
            "wall_ms_per_1000": round(wall * per * 1000),
        }
        if profiler:
            profiler.dump_stats(str(ROOT / "bench" / ".state" / "import_cpu.prof"))
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        return result

    print(run("create", args.profile))
    print(run("upsert", False))
    print(
        "events",
        Event.objects.filter(organization=organization).count(),
        "audit",
        AuditEvent.objects.filter(organization=organization, resource="lead").count(),
    )


if __name__ == "__main__":
    main()
