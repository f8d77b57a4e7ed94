"""Database helpers for the few fixed queries that every authenticated request runs."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models


def _preparing(db) -> bool:
    """Whether fixed-shape SQL should run as server-side prepared statements now: on PostgreSQL
    with `prepare_threshold` set (settings: DATABASE_PREPARED_STATEMENTS) and while queries are
    not being logged (DEBUG, query-count tests: they read the plain path's SQL)."""
    if db.vendor != "postgresql" or db.queries_logged:
        return False
    db.ensure_connection()
    return db.connection.prepare_threshold is not None


@contextmanager
def prepared_statements(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run the block's ORM queries as prepared statements (server-side binding) on PostgreSQL.

    For reads whose plan never depends on the values: a row by primary key within the
    caller's organizations, with the detail's joins. Planning such a read (a deal with its
    seven joined tables) cost more than running it; prepared once per connection, PostgreSQL
    reuses the plan. Django's cursors otherwise bind client-side and never prepare, which list
    and search queries keep, so that their plans suit their actual parameters. Elsewhere, and
    while queries are logged, the block runs unchanged.
    """
    connection = connections[using]
    if not _preparing(connection):
        yield
        return
    import psycopg

    raw = connection.connection
    previous = raw.cursor_factory
    raw.cursor_factory = psycopg.Cursor
    try:
        yield
    finally:
        raw.cursor_factory = previous


@contextmanager
def hot_cursor() -> Iterator:
    """A cursor for fixed per-request SQL (the session's user, the caller's access).

    On PostgreSQL with `prepare_threshold` set (settings: DATABASE_PREPARED_STATEMENTS) it is a
    server-binding psycopg cursor, so each statement is prepared once per connection and
    PostgreSQL reuses its plan: planning the access query was ~0.6 ms of its ~0.7 ms. Django's
    own cursors bind client-side and never prepare, so list and search queries keep plans made
    for their actual parameters. The cursor is wrapped like Django's (execute wrappers, error
    translation). Elsewhere, and while queries are being logged (DEBUG, query-count tests: a
    prepared statement's SQL text is not recorded), it is a plain cursor running the same SQL.
    """
    if _preparing(connection):
        import psycopg

        with connection.wrap_database_errors:
            raw = psycopg.Cursor(connection.connection)
        with connection.make_cursor(raw) as cursor:
            yield cursor
        return
    with connection.cursor() as cursor:
        yield cursor


@contextmanager
def bulk_binding() -> Iterator[None]:
    """Inside: Django's cursors on this connection send list parameters in binary.

    Why: on PostgreSQL `bulk_create` inserts each column as one array (`UNNEST(%s::jsonb[])`).
    Bound client-side, an array is written out as a text literal, and psycopg escapes every `"`
    and `\\` of every element with a regular expression: for the JSON of events and audit rows
    (about 90 quotes each) that was three quarters of the insert's CPU. Bound server-side in
    binary, elements are sent as they are, without quoting or escaping (a batch of 500 events:
    37 ms of CPU before, 11 ms after). The rows stored are the same. Everything else on the
    connection keeps Django's client-side cursors; other databases are unaffected, and so are
    blocks whose queries are being logged (DEBUG, query-count tests), like `hot_cursor`: Django
    cannot record the SQL text of a server-bound statement.
    """
    if connection.vendor != "postgresql" or connection.queries_logged:
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    saved = raw.cursor_factory
    raw.cursor_factory = _binary_list_cursor()
    try:
        yield
    finally:
        raw.cursor_factory = saved


_BINARY_LIST_CURSOR: type | None = None


def _binary_list_cursor() -> type:
    """A server-binding psycopg cursor class whose list parameters are dumped in binary."""
    global _BINARY_LIST_CURSOR
    if _BINARY_LIST_CURSOR is None:
        import psycopg
        from psycopg.types.array import ListBinaryDumper

        class BinaryListCursor(psycopg.Cursor):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                # Each cursor has its own copy of the adapters: the connection's stay as they are.
                self.adapters.register_dumper(list, ListBinaryDumper)

        _BINARY_LIST_CURSOR = BinaryListCursor
    return _BINARY_LIST_CURSOR


#: Field kinds whose values `insert_columns` sends as they are when they are exactly of the
#: type the column stores (what the field's own preparation would return unchanged).
_AS_IS: dict[str, tuple[type, ...]] = {
    "CharField": (str, type(None)),
    "TextField": (str, type(None)),
    "IntegerField": (int, type(None)),
    "BigIntegerField": (int, type(None)),
    "PositiveIntegerField": (int, type(None)),
    "PositiveBigIntegerField": (int, type(None)),
    "SmallIntegerField": (int, type(None)),
    "ForeignKey": (int, type(None)),
}


def insert_columns(model: type[models.Model], columns: dict[str, list[Any]]) -> None:
    """Insert rows given column by column (`attname -> one value per row`) in one statement.

    What `bulk_create` of the same rows stores, without building a model instance per row and
    preparing each value through its field: for the event and audit rows of a bulk write (two
    rows per record written, nine columns each) that was half of their CPU. Every concrete
    field except the automatic primary key must be given, so a field added to the model later
    fails here at once instead of being left out. Values are prepared by their field
    (`get_db_prep_save`, as `bulk_create` does) unless a column holds only values of exactly the
    type its field would pass through unchanged (str for text, int for integers and foreign
    keys, None). On PostgreSQL one `INSERT ... SELECT * FROM UNNEST(...)` (the statement Django
    itself builds), the arrays bound in binary (`bulk_binding`); elsewhere `bulk_create`.
    Returns nothing: callers that need the new rows' ids use `bulk_create`.
    """
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    names = [field.attname for field in fields]
    if sorted(columns) != sorted(names):
        raise ValueError(
            f"insert_columns({meta.label}): columns {sorted(columns)} != {sorted(names)}"
        )
    rows = len(columns[names[0]])
    if any(len(values) != rows for values in columns.values()):
        raise ValueError(f"insert_columns({meta.label}): columns of different lengths")
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(
            model(**dict(zip(names, values, strict=True)))
            for values in zip(*(columns[name] for name in names), strict=True)
        )
        return
    arrays = []
    for field in fields:
        values = columns[field.attname]
        as_is = _AS_IS.get(field.get_internal_type())
        if as_is is None or not all(type(value) in as_is for value in values):
            values = [field.get_db_prep_save(value, connection) for value in values]
        arrays.append(values)
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) SELECT * FROM UNNEST({})".format(
        quote(meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        # Types without their modifiers, as Django's own UNNEST insert casts them
        # (varchar[], never varchar(64)[], so nothing is truncated on the way).
        ", ".join(f"(%s)::{field.db_type(connection).split('(')[0]}[]" for field in fields),
    )
    with bulk_binding(), connection.cursor() as cursor:
        cursor.execute(sql, arrays)


# --- is the database unreachable? ---------------------------------------------------------
#
# An outage (server down, restarting, out of connections, network gone) must answer 503 with
# Retry-After, while every other database error keeps its own answer (a deadlock is a 409, a
# bug a 500). Told apart by class and error code only, never by message text.

#: PostgreSQL SQLSTATEs that mean "cannot serve now": class 08 (connection exception) is
#: matched by prefix; these are the others.
UNAVAILABLE_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, in recovery)
        "53300",  # too_many_connections
    }
)

#: SQLite primary result codes of a database that cannot be opened or is held by another
#: writer: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN.
UNAVAILABLE_SQLITE_CODES = frozenset({5, 6, 10, 14})


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached now (rather than refusing a query)."""
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, InterfaceError):
        return True  # the connection is closed or broken
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if cause is None:
        return False
    sqlstate = getattr(cause, "sqlstate", None)
    module = type(cause).__module__
    if module.startswith("psycopg"):
        # The server always sends a SQLSTATE; an error without one comes from the client
        # library itself: the connection could not be made or was lost.
        return sqlstate is None or sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES
    code = getattr(cause, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in UNAVAILABLE_SQLITE_CODES
    return False
