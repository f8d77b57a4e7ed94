"""Trigram search indexes without GIN's pending list (PostgreSQL only; nothing elsewhere).

With `fastupdate` (GIN's default) new rows are appended to an unsorted pending list that every
search scans linearly until VACUUM merges it. Measured at 1M rows: after ~3,200 lead creates the
leads indexes held 540 pending pages; merging them took the search request from 20.9 to 14.8 ms
in-process (bench/cpu.py), while a lead create stayed at ~16 ms.
Without it each insert updates the index directly (a small, bounded cost per create) and search
latency no longer depends on how long ago VACUUM ran. Existing pending entries are merged here.
Migration 0002 creates the indexes this way on new databases.
"""

import importlib

from django.db import migrations

TRIGRAM_INDEXES = importlib.import_module(
    "crmApp.migrations.0002_pg_search_indexes"
).TRIGRAM_INDEXES


def statements(*, fastupdate: bool) -> list[str]:
    """ALTERs for every trigram index that exists (the bench runner reuses them)."""
    setting = "on" if fastupdate else "off"
    result = []
    for name, _table, _column in TRIGRAM_INDEXES:
        result.append(f"ALTER INDEX IF EXISTS {name} SET (fastupdate = {setting})")
        if not fastupdate:
            result.append(
                f"SELECT gin_clean_pending_list(c.oid) FROM pg_class c WHERE c.relname = '{name}'"
            )
    return result


def apply(fastupdate: bool):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements(fastupdate=fastupdate):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crmApp", "0002_pg_search_indexes")]

    operations = [migrations.RunPython(apply(False), apply(True), elidable=False)]
