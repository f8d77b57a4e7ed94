"""With LOG_FORMAT=json every line a real gunicorn process writes is JSON of one schema."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from crmApp.logging import JSON_KEYS
from tests.events_support import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def _get(url: str) -> int:
    try:
        # The first request waits for the worker to boot Django (slow on a busy CI machine).
        with urllib.request.urlopen(url, timeout=90) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def _wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("gunicorn exited before serving")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start listening")


@pytest.mark.skipif(not GUNICORN.exists() and not shutil.which("gunicorn"), reason="no gunicorn")
def test_every_line_gunicorn_writes_is_json_with_the_same_keys(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DEBUG": "false",
        "SECRET_KEY": "gunicorn-log-test-" + "x" * 40,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        "PYTHONUNBUFFERED": "1",
    }
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    with stdout_path.open("w") as out, stderr_path.open("w") as err:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_listening(port, process)
            assert _get(f"{base}/api/health/live/") == 200
            assert _get(f"{base}/api/no-such-route/") == 404
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    lines = [
        line
        for path in (stdout_path, stderr_path)
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    entries = [json.loads(line) for line in lines]  # any non-JSON line fails here
    assert {tuple(entry) for entry in entries} == {JSON_KEYS}
    loggers = {entry["logger"] for entry in entries}
    assert {"gunicorn.error", "gunicorn.access", "crmApp.requests"} <= loggers
    access = [e for e in entries if e["logger"] == "gunicorn.access"]
    assert [(e["method"], e["path"], e["status"]) for e in access] == [
        ("GET", "/api/health/live/", 200),
        ("GET", "/api/no-such-route/", 404),
    ]
