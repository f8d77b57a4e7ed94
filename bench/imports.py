"""CSV import and attachment benchmark: two Celery workers, gunicorn, PostgreSQL, Redis.

    .venv/bin/python bench/imports.py [--rows 100000] [--concurrency 1] [--attachment-mb 20]

1. Creates (or empties) `crm_bench_imports`, migrates it, makes one organization and its owner.
2. Writes a CSV of N leads (name, email, company, phone, score, source, value, tags, external
   id), starts gunicorn (one sync worker) and two `celery -A crmAdmin worker` processes on the
   run's `imports` queue, POSTs the file to `/api/imports/` and polls the job until it is done:
   wall time from the POST to `completed`, rows/s, and the peak RSS of each worker's processes
   (sampled every 0.1 s). Then the same file again as an upsert on the external id (every row
   unchanged).
3. Uploads an attachment of `--attachment-mb` MB and downloads it, sampling the gunicorn
   worker's RSS during each.

Writes `bench/results/imports/latest.json` (beside, not among, run.py's results);
bench/IMPORTS.md reports the figures. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from run import Server, rss_kib
from workers import celery_workers

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "bench" / ".state"
PG = "postgres://postgres@127.0.0.1:5432"
BROKER = "redis://127.0.0.1:6379/13"
SOURCES = ("website", "referral", "event", "partner", "cold_call")


def group_pids(leader: int) -> list[int]:
    """The processes of `leader`'s process group (a worker and its pool)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == leader:
                pids.append(int(entry.name))
    return pids


class RssSampler:
    """Peak RSS (MiB) per process of the given groups (or pids), sampled in a thread."""

    def __init__(self, pids_of):
        self.pids_of = pids_of
        self.peak: dict[int, int] = {}
        self.first: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids_of():
                rss = rss_kib(pid)
                self.first.setdefault(pid, rss)
                self.peak[pid] = max(self.peak.get(pid, 0), rss)
            time.sleep(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def multipart_request(url: str, token: str, fields: dict, file_path: Path, name: str):
    """A streamed multipart upload: the body is written to a file and sent from it."""
    boundary = uuid.uuid4().hex
    body_path = STATE / f"upload-{boundary}.bin"
    with body_path.open("wb") as body:
        for key, value in fields.items():
            body.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        with file_path.open("rb") as source:
            while chunk := source.read(1 << 20):
                body.write(chunk)
        body.write(f"\r\n--{boundary}--\r\n".encode())
    size = body_path.stat().st_size
    with body_path.open("rb") as data:
        request = urllib.request.Request(url, data=data, method="POST")
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        request.add_header("Content-Length", str(size))
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.loads(response.read())
    body_path.unlink()
    return answer


def get_json(url: str, token: str) -> dict:
    request = urllib.request.Request(url)
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(17)
    with path.open("w", encoding="utf-8") as out:
        out.write("external_id,name,email,company,phone,lead_score,source,estimated_value,tags\n")
        for i in range(rows):
            out.write(
                f"imp-{i},Lead {i},lead{i}@example.com,Company {i % 5000},+1 555 {i:07d},"
                f'{rng.randint(0, 100)},{rng.choice(SOURCES)},{rng.randint(0, 99999)}.50,"a, b"\n'
            )


def run_import(server, token, csv_path, workers, *, mode: str) -> dict:
    fields = {"resource": "leads", "mode": mode, "match_on": "external_id"}

    def pids():
        return [pid for worker in workers for pid in group_pids(worker.pid)]

    with RssSampler(pids) as sampler:
        started = time.perf_counter()
        job = multipart_request(f"{server.base}/api/imports/", token, fields, csv_path, "leads.csv")
        while job["status"] not in ("completed", "failed", "cancelled"):
            time.sleep(0.2)
            job = get_json(f"{server.base}/api/imports/{job['id']}/", token)
        seconds = time.perf_counter() - started
    per_worker = {}
    for number, worker in enumerate(workers, start=1):
        members = [pid for pid in sampler.peak if pid in group_pids(worker.pid)]
        per_worker[f"worker{number}"] = {
            str(pid): {
                "start_mib": round(sampler.first[pid] / 1024, 1),
                "peak_mib": round(sampler.peak[pid] / 1024, 1),
            }
            for pid in members
        }
    return {
        "mode": mode,
        "status": job["status"],
        "error": job["error"],
        "rows": job["rows_total"],
        "created": job["rows_created"],
        "updated": job["rows_updated"],
        "unchanged": job["rows_unchanged"],
        "failed": job["rows_failed"],
        "seconds": round(seconds, 1),
        "rows_per_second": round((job["rows_total"] or 0) / seconds),
        "worker_rss": per_worker,
    }


def attachment_rss(server, token, customer_id: int, megabytes: int) -> dict:
    path = STATE / "attachment.pdf"
    with path.open("wb") as out:
        out.write(b"%PDF-1.4\n")
        for _ in range(megabytes):
            out.write(os.urandom(1 << 20))
    pids = server.worker_pids()
    baseline = {pid: rss_kib(pid) for pid in pids}
    with RssSampler(lambda: pids) as upload:
        started = time.perf_counter()
        created = multipart_request(
            f"{server.base}/api/attachments/",
            token,
            {"parent_type": "customer", "parent_id": customer_id},
            path,
            "big.pdf",
        )
        upload_seconds = time.perf_counter() - started
    with RssSampler(lambda: pids) as download:
        request = urllib.request.Request(f"{server.base}/api/attachments/{created['id']}/download/")
        request.add_header("Authorization", f"Bearer {token}")
        received = 0
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            while chunk := response.read(1 << 16):
                received += len(chunk)
        download_seconds = time.perf_counter() - started
    return {
        "bytes": path.stat().st_size,
        "received": received,
        "content_type": created["content_type"],
        "upload_seconds": round(upload_seconds, 2),
        "download_seconds": round(download_seconds, 2),
        "web_worker_baseline_mib": {str(p): round(v / 1024, 1) for p, v in baseline.items()},
        "web_worker_peak_upload_mib": {str(p): round(v / 1024, 1) for p, v in upload.peak.items()},
        "web_worker_peak_download_mib": {
            str(p): round(v / 1024, 1) for p, v in download.peak.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes per worker")
    parser.add_argument("--attachment-mb", type=int, default=20)
    parser.add_argument("--database", default="crm_bench_imports")
    parser.add_argument("--port", type=int, default=8017)
    args = parser.parse_args()
    # Stopped from outside: still stop the workers and gunicorn (the `with` blocks' exits).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    STATE.mkdir(exist_ok=True)
    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    env = {
        **{k: v for k, v in os.environ.items() if k != "CRM_SERVING"},
        "DATABASE_URL": f"{PG}/{args.database}",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_QUEUE_PREFIX": prefix,
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "THROTTLE_USER_RATE": "100000000/min",
        "MEDIA_ROOT": str(STATE / "media"),
        "IMPORT_MAX_ROWS": str(max(args.rows, 200_000)),
        "WEB_CONCURRENCY": "1",
        "PORT": str(args.port),
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "GUNICORN_TIMEOUT": "300",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "crmAdmin.settings",
    }
    os.environ.update(env)
    psql = ["psql", PG + "/postgres", "-qc"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {args.database}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {args.database}"], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)

    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from crmApp.models import Customer, User
    from crmApp.services.auth import session_start
    from crmApp.services.organizations import organization_create

    owner = User.objects.create_user(
        email="bench.owner@example.com", username="bench-owner", password=uuid.uuid4().hex
    )
    organization = organization_create(owner=owner, name="Import bench")
    token = session_start(user=owner, ip_address="127.0.0.1", device_info="bench").access
    customer = Customer.objects.create(
        organization=organization, name="Attachment holder", email="holder@example.com"
    )
    csv_path = STATE / "leads.csv"
    write_csv(csv_path, args.rows)
    print(f"CSV: {args.rows} rows, {csv_path.stat().st_size / 1e6:.1f} MB", flush=True)

    queues = f"{prefix}imports"
    result = {"rows": args.rows, "concurrency": args.concurrency, "cpus": os.cpu_count()}
    with Server(env, args.port) as server:
        with celery_workers(
            queues=queues, concurrency=args.concurrency, prefix=prefix, env=env
        ) as workers:
            result["create"] = run_import(server, token, csv_path, workers, mode="create")
            print(json.dumps(result["create"], indent=1), flush=True)
            result["upsert_again"] = run_import(server, token, csv_path, workers, mode="upsert")
            print(json.dumps(result["upsert_again"], indent=1), flush=True)
        result["attachment"] = attachment_rss(server, token, customer.pk, args.attachment_mb)
        print(json.dumps(result["attachment"], indent=1), flush=True)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = ROOT / "bench" / "results" / "imports" / "latest.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
