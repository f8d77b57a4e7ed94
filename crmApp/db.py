"""Database helpers for the few fixed queries that every authenticated request runs."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection, connections


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
