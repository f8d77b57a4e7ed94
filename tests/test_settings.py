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


DATABASES_JSON = "import json; from django.conf import settings; " + (
    "print(json.dumps([settings.DATABASES, getattr(settings, 'DATABASE_ROUTERS', [])]))"
)


def _databases(**extra_env: str) -> tuple[dict, list]:
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "CRM_SERVING"))}
    env.update(extra_env, DEBUG="true", DJANGO_SETTINGS_MODULE="crmAdmin.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + DATABASES_JSON],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    databases, routers = json.loads(result.stdout)
    return databases, routers


def test_behind_pgbouncer_nothing_outlives_a_transaction():
    url = "postgres://app@pgbouncer.internal:6432/crm"
    pooled, _ = _databases(DATABASE_URL=url, DATABASE_POOLER="pgbouncer")
    direct, _ = _databases(DATABASE_URL=url)
    newer, _ = _databases(
        DATABASE_URL=url, DATABASE_POOLER="pgbouncer", DATABASE_PREPARED_STATEMENTS="true"
    )

    assert pooled["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "prepare_threshold" not in pooled["default"].get("OPTIONS", {})
    assert direct["default"].get("DISABLE_SERVER_SIDE_CURSORS", False) is False
    assert direct["default"]["OPTIONS"]["prepare_threshold"] == 0
    # PgBouncer 1.21+ with max_prepared_statements carries them when asked.
    assert newer["default"]["OPTIONS"]["prepare_threshold"] == 0


def test_a_replica_is_a_second_alias_routed_and_mirrored_in_tests():
    databases, routers = _databases(
        DATABASE_URL="postgres://app@primary:5432/crm",
        DATABASE_REPLICA_URL="postgres://app@replica:5432/crm",
    )
    alone, no_routers = _databases(DATABASE_URL="postgres://app@primary:5432/crm")

    assert sorted(databases) == ["default", "replica"]
    assert (databases["replica"]["HOST"], databases["replica"]["NAME"]) == ("replica", "crm")
    assert databases["replica"]["CONN_MAX_AGE"] == databases["default"]["CONN_MAX_AGE"]
    assert databases["replica"]["TEST"]["MIRROR"] == "default"
    assert routers == ["crmApp.db_routing.ReplicaRouter"]
    assert (sorted(alone), no_routers) == (["default"], [])
