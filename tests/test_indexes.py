"""No index of ours repeats another: every index is written on each insert (and on each update
that is not HOT), so one whose columns lead another index's, with the same operator classes and
orders, costs writes and serves no read the longer one cannot.

Django gives every foreign key an index of its own; where a composite index or a unique
constraint already leads with that column, the field says `db_index=False`.
"""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

#: Plain b-tree indexes of the app's tables: name, table, whether unique or partial or over
#: expressions, their (column, operator class, order) keys, and the name of the first column.
INDEXES = """
SELECT c.relname, t.relname, i.indisunique, i.indpred IS NOT NULL, i.indexprs IS NOT NULL,
       i.indkey::int2[], i.indclass::oid[], i.indoption::int2[], i.indnkeyatts,
       (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = i.indrelid
        AND a.attnum = i.indkey[0])
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'btree' AND t.relname = ANY(%s)
"""


def app_tables() -> list[str]:
    return [model._meta.db_table for model in apps.get_app_config("crmApp").get_models()]


def redundant_indexes() -> list[tuple[str, str, str]]:
    """(table, index, the index it repeats): a non-unique, whole-table index whose keys start
    another whole-table index's keys."""
    with connection.cursor() as cursor:
        cursor.execute(INDEXES, [app_tables()])
        rows = cursor.fetchall()
    indexes = []
    for name, table, unique, partial, expressions, columns, classes, options, keys, _ in rows:
        if partial or expressions:
            continue
        key = tuple(zip(columns[:keys], classes[:keys], options[:keys], strict=True))
        indexes.append((table, name, unique, key))
    found = []
    for table, name, unique, key in indexes:
        if unique:
            continue
        for other_table, other, _unique, other_key in indexes:
            same_start = other_table == table and other_key[: len(key)] == key
            # Of two equal indexes, one is flagged.
            if same_start and other != name and (len(other_key) > len(key) or other < name):
                found.append((table, name, other))
                break
    return sorted(found)


def unindexed_foreign_keys() -> list[tuple[str, str]]:
    """(table, column) of foreign keys no whole-table index leads with: deleting the row they
    point at, or joining from it, would scan the table."""
    with connection.cursor() as cursor:
        cursor.execute(INDEXES, [app_tables()])
        leading = {(row[1], row[-1]) for row in cursor.fetchall() if not row[3] and not row[4]}
    missing = []
    for model in apps.get_app_config("crmApp").get_models():
        table = model._meta.db_table
        for field in model._meta.local_fields:
            if field.is_relation and (table, field.column) not in leading:
                missing.append((table, field.column))
    return sorted(missing)


def test_no_index_repeats_the_start_of_another():
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's catalog (SQLite builds the same indexes from the models)")
    assert redundant_indexes() == []


def test_every_foreign_key_leads_an_index():
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's catalog (SQLite builds the same indexes from the models)")
    assert unindexed_foreign_keys() == []
