"""Database helpers for the few fixed queries that every authenticated request runs."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


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
    if connection.vendor == "postgresql" and not connection.queries_logged:
        connection.ensure_connection()
        if connection.connection.prepare_threshold is not None:
            import psycopg

            with connection.wrap_database_errors:
                raw = psycopg.Cursor(connection.connection)
            with connection.make_cursor(raw) as cursor:
                yield cursor
            return
    with connection.cursor() as cursor:
        yield cursor
