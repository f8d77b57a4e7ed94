"""Point reads whose SQL is compiled once per shape, not once per request.

A detail read joins half a dozen tables and embeds related rows: the ORM compiles ~150 columns
into SQL for every request, 1.5 ms of CPU for a deal, more than PostgreSQL takes to run the
prepared statement. Yet everything but the WHERE clause is fixed by how the selector shapes
the action (`detail`, `locked`), and the WHERE clause (tenant scope and primary key) is cheap
to compile on its own.

`read_shaped(queryset, shape)` compiles the WHERE clause, and looks up (shape, database, WHERE
text) in a per-process cache: on a miss the whole query is compiled as usual and remembered
with the compiler's column map; on a hit the cached SQL runs with this query's WHERE
parameters in place of the first one's. A different WHERE (another number of organizations,
an extra scope) is a different text, hence its own entry; what the caller promises is only
that `shape` determines the rest of the query (columns, joins, annotations, locking, order,
limits). `tests/test_compiled_reads.py` compares the SQL, parameters and instances read with
the plain path's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.sql.compiler import SQLCompiler

#: A placeholder or an escaped percent sign of the SQL text, in order.
_PLACEHOLDER = re.compile(r"%%|%s")
#: Entries kept per process; shapes × WHERE variants are few, this only bounds a surprise.
MAX_ENTRIES = 512


@dataclass(frozen=True)
class _Compiled:
    """A query's SQL with the WHERE parameters left out, and what hydrating its rows needs."""

    sql: str
    params_before: tuple[Any, ...]
    params_after: tuple[Any, ...]
    state: dict[str, Any]


#: The compiler attributes `as_sql` sets up that reading the rows back uses.
_STATE = ("select", "klass_info", "annotation_col_map", "col_count", "has_extra_select")
_cache: dict[tuple[object, ...], _Compiled] = {}


def _placeholders(sql: str) -> int:
    return sum(1 for match in _PLACEHOLDER.finditer(sql) if match.group() == "%s")


def _remember(compiler: SQLCompiler, where_sql: str, where_params: tuple) -> _Compiled | None:
    """Compile the whole query once; None when its WHERE clause cannot be told apart."""
    sql, params = compiler.as_sql()
    clause = f"WHERE {where_sql}"
    if sql.count(clause) != 1:
        return None
    before = _placeholders(sql[: sql.index(clause)])
    params = tuple(params)
    if params[before : before + len(where_params)] != tuple(where_params):
        return None
    return _Compiled(
        sql=sql,
        params_before=params[:before],
        params_after=params[before + len(where_params) :],
        state={name: getattr(compiler, name) for name in _STATE},
    )


def _outline(query) -> tuple:
    """What the query reads besides its WHERE clause, as far as it is cheap to tell: a guard
    against a caller's shape that does not pin it (values inside annotations are not seen)."""
    return (
        tuple(map(str, query.order_by)),
        query.select_for_update,
        query.select_for_update_of,
        query.low_mark,
        query.high_mark,
        tuple(query.annotations),
        repr(query.select_related),
        query.distinct,
        repr(query.deferred_loading),
        query.values_select,
    )


#: `(compiler, its own as_sql) -> (sql, params)`: the statement a compiler answers with.
SqlOf = Callable[[SQLCompiler, Callable[[], tuple[str, Any]]], tuple[str, Any]]


def with_sql(queryset: QuerySet, sql_of: SqlOf) -> QuerySet:
    """A copy of `queryset` whose statement is `sql_of(compiler, own_as_sql)`: the ORM's
    iterables still read and convert its rows. For the two devices of the read layer that
    change a statement the ORM cannot write (a reused compilation here, a WITH clause in
    `counting.SearchedPage`). The copy is meant to be read as it is, not refined further."""
    shaped = queryset._chain()  # type: ignore[attr-defined]
    query = shaped.query
    compiler_for = query.get_compiler

    def get_compiler(using=None, connection=None, elide_empty=True):
        compiler = compiler_for(using, connection, elide_empty)
        own_as_sql = compiler.as_sql
        compiler.as_sql = lambda *args, **kwargs: sql_of(
            compiler, lambda: own_as_sql(*args, **kwargs)
        )
        return compiler

    query.get_compiler = get_compiler
    return shaped


def read_shaped(queryset: QuerySet, shape: Hashable) -> list[Model]:
    """The rows of `queryset`, its SQL reused from an earlier query of the same `shape` and
    WHERE text (see the module's docstring for the caller's promise)."""
    query = queryset.query
    alias = queryset.db
    connection = connections[alias]
    compiler = query.get_compiler(using=alias)
    try:
        where_sql, where_params = compiler.compile(query.where)
    except (EmptyResultSet, FullResultSet):
        return list(queryset)  # nothing or everything matches: the plain path knows best
    if query.select_for_update and connection.get_autocommit():  # refused by the ORM, if it locks
        return list(queryset)  # let the ORM refuse it, as it would
    key = (shape, alias, connection.vendor, type(compiler), _outline(query), where_sql)
    entry = _cache.get(key)
    if entry is None:
        entry = _remember(compiler, where_sql, tuple(where_params))
        if entry is None:
            return list(queryset)
        if len(_cache) >= MAX_ENTRIES:
            _cache.clear()
        _cache[key] = entry
    where_params = tuple(where_params)

    def reused(compiler: SQLCompiler, own_as_sql) -> tuple[str, tuple]:
        for name, value in entry.state.items():  # what compiling would have set up
            setattr(compiler, name, value)
        return entry.sql, (*entry.params_before, *where_params, *entry.params_after)

    return list(with_sql(queryset, reused))
