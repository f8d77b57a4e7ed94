"""Real app instances for the deployment tests: gunicorn masters on free ports, spoken to over
HTTP, with production settings (DEBUG off) and whatever databases and caches a test names."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.events_support import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
START_TIMEOUT = 60


def shared_database_url() -> str:
    """The URL of the test database this process uses, for the processes it starts."""
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def app_env(**overrides: str) -> dict[str, str]:
    """The environment of a production-like process (as bench/run.py serves), plus `overrides`."""
    # Not a server unless gunicorn says so: importing the WSGI module marks a process one.
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key != "CRM_SERVING" and not key.startswith(("PYTEST_", "DJANGO_SETTINGS"))
    }
    return {
        **inherited,
        "DEBUG": "false",
        "SECRET_KEY": "deployment-test-" + "k" * 48,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


@dataclass
class Answer:
    status: int
    body: object
    headers: dict[str, str]


@dataclass
class Instance:
    """One gunicorn master and its workers."""

    base: str
    process: subprocess.Popen
    log: Path

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw, status, got = response.read(), response.status, response.headers
        except urllib.error.HTTPError as refused:
            raw, status, got = refused.read(), refused.code, refused.headers
        text = raw.decode()
        try:
            parsed: object = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Answer(status, parsed, dict(got.items()))


def _wait_until_serving(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited before serving:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not start listening:\n{log.read_text()[-3000:]}")


@contextmanager
def gunicorn(env: dict[str, str], log: Path, *, workers: int = 1) -> Iterator[Instance]:
    """A gunicorn master with `workers` workers on a free port, stopped on exit."""
    port = free_port()
    run_env = {**env, "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=run_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_serving(port, process, log)
        instance = Instance(f"http://127.0.0.1:{port}", process, log)
        # The first request waits for a worker to boot Django.
        assert instance.call("GET", "/api/health/live/").status == 200, log.read_text()[-3000:]
        yield instance
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def gunicorns(env: dict[str, str], logs: list[Path]) -> Iterator[list[Instance]]:
    """One gunicorn master per log, all with `env`."""
    with ExitStack() as stack:
        yield [stack.enter_context(gunicorn(env, log)) for log in logs]


def manage(env: dict[str, str], *args: str) -> str:
    """`manage.py args` with `env`; its standard output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@contextmanager
def celery_workers(env: dict[str, str], run_id: str, logs: list[Path]) -> Iterator[None]:
    """One Celery worker (two pool processes) per log on this run's queues (`run_id` is their
    prefix, CELERY_QUEUE_PREFIX in `env`); stopped on exit."""
    from django.conf import settings

    queues = ",".join(f"{run_id}{kind}" for kind in settings.TASK_QUEUES)
    processes = []
    try:
        for number, log in enumerate(logs, start=1):
            with log.open("w") as out:
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable, "-m", "celery", "-A", "crmAdmin", "worker",
                            "-Q", queues, "-c", "2", "-n", f"w{number}.{run_id}@%h",
                            "--without-mingle", "--without-gossip", "--without-heartbeat",
                            "-l", "info",
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        for log, process in zip(logs, processes, strict=True):
            while process.poll() is None and " ready." not in log.read_text():
                assert time.monotonic() < deadline, f"{log.name} did not start"
                time.sleep(0.1)
            assert process.poll() is None, log.read_text()[-3000:]
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            stop(process)
