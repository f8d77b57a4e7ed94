"""A server refuses to start without SECRET_KEY when DEBUG is off; other commands still run."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "CRM_SERVING")}
    env.update(extra_env, DEBUG="false", DATABASE_URL="sqlite:////tmp/crm-settings-test.sqlite3")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_wsgi_refuses_to_start_without_secret_key():
    result = _run("-c", "import crmAdmin.wsgi")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in result.stderr


def test_wsgi_starts_with_a_secret_key():
    result = _run("-c", "import crmAdmin.wsgi", SECRET_KEY="x" * 60)
    assert result.returncode == 0, result.stderr


def test_maintenance_commands_run_without_secret_key():
    result = _run("manage.py", "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout
