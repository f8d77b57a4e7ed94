"""Read replica: which database a list, stats, report or export read uses.

Only those reads may go to the replica (`DATABASE_REPLICA_URL`, alias "replica"); the selector
base asks `read_alias()` when it shapes them (`ResourceSelector.for_action`, `reports.run`).
Detail reads, every write, authentication, permissions and the reads a write makes stay on the
primary. A read goes to the primary instead when:

- the client wrote within `REPLICA_READ_YOUR_WRITES_SECONDS` (read-your-writes: a list right
  after a create shows the new row). Each unsafe request of a signed-in client marks it in the
  shared cache (`note_write`, called by `ReplicaReadsMiddleware`), so the mark holds on every
  instance; a client that is not known (no user) reads from the primary too;
- the replica is more than `REPLICA_MAX_LAG_SECONDS` behind, or cannot be reached. Its state is
  checked at most every `REPLICA_CHECK_SECONDS` per process: no lag when it has replayed all
  the WAL the primary has written (`pg_last_wal_replay_lsn()` against `pg_current_wal_lsn()`;
  the replay timestamp alone is old on an idle primary), else the time since the last replayed
  transaction. Each read that would go to the replica also runs Django's once-a-request check
  of its connection first. An unreachable replica logs one warning and reads go to the primary
  until a check reaches it again; a request never fails because of the replica.

`ReplicaRouter` (DATABASE_ROUTERS, installed only with a replica) keeps every write and every
migration on the primary and, inside a `reading(alias)` block, sends the block's reads to
`alias` (a report's several queries).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from crmApp.context import current_client_id
from crmApp.db import database_unreachable

logger = logging.getLogger("crmApp.replica")

REPLICA = "replica"
WROTE_KEY = "crm:wrote:{}"

#: The alias that reads inside a `reading()` block use (None: the router decides nothing).
_block_alias: ContextVar[str | None] = ContextVar("replica_block_alias", default=None)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


# --- read-your-writes ------------------------------------------------------------------------


def note_write(user_id: int) -> None:
    """Remember that `user_id` just wrote: its reads stay on the primary for a few seconds."""
    if replica_configured():
        cache.set(WROTE_KEY.format(user_id), 1, settings.REPLICA_READ_YOUR_WRITES_SECONDS)


def wrote_recently(user_id: int) -> bool:
    return cache.get(WROTE_KEY.format(user_id)) is not None


# --- the replica's state ---------------------------------------------------------------------


class ReplicaState:
    """Whether the replica may serve reads now, checked at most every `REPLICA_CHECK_SECONDS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._usable = False
        self._problem: str | None = None

    def usable(self) -> bool:
        now = time.monotonic()
        if now - self._checked_at < settings.REPLICA_CHECK_SECONDS:
            return self._usable
        with self._lock:
            if now - self._checked_at < settings.REPLICA_CHECK_SECONDS:
                return self._usable
            problem = self._problem_now()
            self._report(problem)
            self._usable = problem is None
            self._checked_at = time.monotonic()
        return self._usable

    def connected(self) -> bool:
        """Whether this request's replica connection works (Django's once-a-request check of a
        persistent connection, done here rather than at the first query, so that a replica
        stopped since the last state check sends the read to the primary instead of failing)."""
        replica = connections[REPLICA]
        try:
            replica.close_if_health_check_failed()
            replica.ensure_connection()
        except DatabaseError as exc:
            replica.close()
            with self._lock:
                self._report(_failure(exc))
                self._usable = False
                self._checked_at = time.monotonic()
            return False
        return True

    def _problem_now(self) -> str | None:
        """Why the replica may not serve reads now, or None when it may."""
        try:
            lag = replica_lag_seconds()
        except DatabaseError as exc:
            connections[REPLICA].close()
            return _failure(exc)
        if lag > settings.REPLICA_MAX_LAG_SECONDS:
            return f"{lag:.1f} s behind the primary"
        return None

    def _report(self, problem: str | None) -> None:
        if problem == self._problem:
            return
        if problem is None:
            logger.warning("read replica usable again: list and report reads resume on it")
        else:
            logger.warning("read replica %s: list and report reads go to the primary", problem)
        self._problem = problem


def _failure(exc: DatabaseError) -> str:
    if database_unreachable(exc):
        return f"unreachable ({type(exc).__name__})"
    return f"cannot be checked ({type(exc).__name__}: {str(exc).strip()[:200]})"


def replica_lag_seconds() -> float:
    """How far the replica is behind the primary: 0 when it has replayed every WAL byte the
    primary has written, else the seconds since it replayed its last transaction."""
    replica = connections[REPLICA]
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (primary_lsn,) = cursor.fetchone()
    with replica.cursor() as cursor:
        cursor.execute(
            "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn,"
            " extract(epoch FROM now() - pg_last_xact_replay_timestamp())",
            [primary_lsn],
        )
        caught_up, seconds = cursor.fetchone()
    if caught_up:
        return 0.0
    return float("inf") if seconds is None else float(seconds)


replica_state = ReplicaState()


# --- the decision ----------------------------------------------------------------------------


def read_alias() -> str:
    """The database a list, stats, report or export read uses now (see the module doc)."""
    if not replica_configured():
        return DEFAULT_DB_ALIAS
    user_id = current_client_id.get()()
    if user_id is None or wrote_recently(user_id):
        return DEFAULT_DB_ALIAS
    return REPLICA if replica_state.usable() and replica_state.connected() else DEFAULT_DB_ALIAS


@contextmanager
def reading(alias: str) -> Iterator[None]:
    """Reads of models inside the block that name no database use `alias`."""
    token = _block_alias.set(alias)
    try:
        yield
    finally:
        _block_alias.reset(token)


class ReplicaRouter:
    """Writes and migrations on the primary; reads inside `reading()` where it says."""

    def db_for_read(self, model, **hints) -> str | None:
        # None lets Django follow the instance a related read starts from (a prefetch of rows
        # read from the replica reads the replica), else the primary.
        return _block_alias.get()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # the same data on both

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS
