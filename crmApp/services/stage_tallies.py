"""Keeping `StageEntryTally` (first and latest entries per organization, stage and UTC day)
equal to what the stage history says, in the transaction of the write that changes the history.

Two ways in:

* `stage_tally_entered` when the deal services add the newest history row of a deal (the only
  row they add): on PostgreSQL one INSERT ... SELECT that joins the services' statement batch
  (no round trip of its own); elsewhere a read of the deal's earliest and latest entry into the
  stage, then an upsert unless nothing changes (a re-entry on the day of the previous one).
* `stage_tallies_kept` around any other write that may change a deal's history (a deal or a
  history row deleted, a history row saved in the admin): the deals' first entries are read
  before and after, and only the difference is applied.

Increments and decrements are upserts adding to the stored count, so concurrent writes of
different deals never lose one another's (each deal's writes are already serialized by its row
lock).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial

from django.db import connection, transaction
from django.db.models import Max, Min, Model

from crmApp.models import Deal, DealStageHistory, StageEntryTally
from crmApp.services.batch import batch_sql

#: (organization id, stage id, UTC day, "first_entries" or "last_entries")
Cell = tuple[int, int, datetime.date, str]
FIRST, LAST = "first_entries", "last_entries"
#: Rows per upsert statement (5 parameters each: under SQLite's and PostgreSQL's limits).
APPLY_BATCH = 1000
TABLE = StageEntryTally._meta.db_table
HISTORY = DealStageHistory._meta.db_table
ADD_ON_CONFLICT = (
    f"ON CONFLICT (organization_id, stage_id, day) DO UPDATE SET {FIRST} = tally.{FIRST} + "
    f"EXCLUDED.{FIRST}, {LAST} = tally.{LAST} + EXCLUDED.{LAST}"
)


def _day(moment: datetime.datetime) -> datetime.date:
    return moment.astimezone(datetime.UTC).date()


def _upserts(delta: Counter[Cell]) -> list[tuple[str, list[int | datetime.date]]]:
    """`delta` as upserts adding to the stored counts (rows created as needed), in batches."""
    changes: dict[tuple[int, int, datetime.date], list[int]] = {}
    for (organization_id, stage_id, day, column), change in delta.items():
        if change:
            row = changes.setdefault((organization_id, stage_id, day), [0, 0])
            row[0 if column == FIRST else 1] += change
    cells = sorted((cell, row) for cell, row in changes.items() if any(row))  # one lock order
    statements = []
    for start in range(0, len(cells), APPLY_BATCH):  # a deal's write: one batch
        batch = cells[start : start + APPLY_BATCH]
        rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(batch))
        params: list[int | datetime.date] = []
        for (organization_id, stage_id, day), (first, last) in batch:
            params += [organization_id, stage_id, day, first, last]
        statements.append(
            (
                f"INSERT INTO {TABLE} AS tally (organization_id, stage_id, day, {FIRST}, {LAST}) "
                f"VALUES {rows} {ADD_ON_CONFLICT}",
                params,
            )
        )
    return statements


def _apply(delta: Counter[Cell]) -> None:
    """Add `delta` to the stored tallies now."""
    for sql, params in _upserts(delta):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def entry_cells(deal_ids: Collection[int]) -> Counter[Cell]:
    """The cells the deals' history puts them in: per deal and stage, its earliest and its
    latest entry."""
    cells: Counter[Cell] = Counter()
    if not deal_ids:
        return cells
    rows = (
        DealStageHistory.objects.filter(deal_id__in=list(deal_ids), stage__isnull=False)
        .order_by()
        .values_list("organization_id", "stage_id", "deal_id")
        .annotate(first=Min("entered_at"), last=Max("entered_at"))
    )
    for organization_id, stage_id, _deal_id, first, last in rows:
        cells[(organization_id, stage_id, _day(first), FIRST)] += 1
        cells[(organization_id, stage_id, _day(last), LAST)] += 1
    return cells


def _entered_delta(
    organization_id: int, stage_id: int, at: datetime.datetime, known: dict
) -> Counter[Cell]:
    """What entering the stage `at` changes, given the deal's earliest and latest entries
    there so far (`known["first"]`, `known["last"]`, None without any)."""
    first, last, day = known["first"], known["last"], _day(at)
    delta: Counter[Cell] = Counter()
    # None before: a first entry (and a row dated later by hand stops being the first).
    if first is None or first > at:
        delta[(organization_id, stage_id, day, FIRST)] += 1
        if first is not None:
            delta[(organization_id, stage_id, _day(first), FIRST)] -= 1
    if last is None or last <= at:  # the latest entry moves to this one
        delta[(organization_id, stage_id, day, LAST)] += 1
        if last is not None:
            delta[(organization_id, stage_id, _day(last), LAST)] -= 1
    return delta


#: `_entered_delta` in one statement on PostgreSQL, from the deal's rows in the stage as they
#: are before the statement (`known`: their earliest and latest entry, or nulls).
_KNOWN = (
    f"(SELECT MIN(entered_at) AS lo, MAX(entered_at) AS hi FROM {HISTORY} "
    "WHERE deal_id = %s::bigint AND stage_id = %s::bigint) AS known"
)
ENTERED_SQL = (
    f"INSERT INTO {TABLE} AS tally (organization_id, stage_id, day, {FIRST}, {LAST}) "
    "SELECT %s::bigint, %s::bigint, change.day, SUM(change.first), SUM(change.last) FROM ("
    "SELECT %s::date AS day,"
    " CASE WHEN known.lo IS NULL OR known.lo > %s::timestamptz THEN 1 ELSE 0 END AS first,"
    " CASE WHEN known.hi IS NULL OR known.hi <= %s::timestamptz THEN 1 ELSE 0 END AS last"
    f" FROM {_KNOWN}"
    " UNION ALL SELECT (known.lo AT TIME ZONE 'UTC')::date, -1, 0"
    f" FROM {_KNOWN} WHERE known.lo > %s::timestamptz"
    " UNION ALL SELECT (known.hi AT TIME ZONE 'UTC')::date, 0, -1"
    f" FROM {_KNOWN} WHERE known.hi <= %s::timestamptz"
    ") AS change GROUP BY change.day HAVING SUM(change.first) <> 0 OR SUM(change.last) <> 0 "
    f"{ADD_ON_CONFLICT}"
)


def stage_tally_entered(
    *, deal: Deal, stage_id: int, at: datetime.datetime, new_deal: bool = False
) -> None:
    """Count the history row the deal services are about to add (deal `deal`, `stage_id`,
    entered `at`): the deal's first entry into the stage when it has none before, and its
    latest entry there unless it has a later one. `new_deal`: the deal has no history yet.

    Sent with the services' statement batch (`services.batch`): on PostgreSQL it joins the
    statement that inserts the history row and the event, and reads the deal's rows as they
    were before it, so the tallies cost no round trip of their own; elsewhere the deal's rows
    are read, then the change is written, before the history row is inserted. Call it before
    queuing that row, and at most once per deal and batch.
    """
    organization_id = deal.organization_id
    if new_deal:
        delta = _entered_delta(organization_id, stage_id, at, {"first": None, "last": None})
        for sql, params in _upserts(delta):
            batch_sql(StageEntryTally, sql, params, elsewhere=partial(_apply, delta))
        return

    def read_then_write() -> None:
        known = DealStageHistory.objects.filter(deal=deal, stage_id=stage_id).aggregate(
            first=Min("entered_at"), last=Max("entered_at")
        )
        _apply(_entered_delta(organization_id, stage_id, at, known))

    day = _day(at)
    params = [
        organization_id,
        stage_id,
        day,
        at,
        at,
        deal.pk,
        stage_id,
        deal.pk,
        stage_id,
        at,
        deal.pk,
        stage_id,
        at,
    ]
    batch_sql(StageEntryTally, ENTERED_SQL, params, elsewhere=read_then_write)


@transaction.atomic
def stage_tallies_rebuild(*, organization_id: int) -> int:
    """Replace an organization's tallies by what its stage history says (history loaded in bulk
    past the services, such as the report bench's seed); the number of rows written."""
    StageEntryTally.objects.filter(organization_id=organization_id).delete()
    rows = (
        DealStageHistory.objects.filter(organization_id=organization_id, stage__isnull=False)
        .order_by()
        .values_list("stage_id", "deal_id")
        .annotate(first=Min("entered_at"), last=Max("entered_at"))
    )
    cells: Counter[Cell] = Counter()
    for stage_id, _deal_id, first, last in rows.iterator(chunk_size=20_000):
        cells[(organization_id, stage_id, _day(first), FIRST)] += 1
        cells[(organization_id, stage_id, _day(last), LAST)] += 1
    _apply(cells)
    return StageEntryTally.objects.filter(organization_id=organization_id).count()


@contextmanager
def _kept(deal_ids: Collection[int]) -> Iterator[None]:
    before = entry_cells(deal_ids)
    yield
    after = entry_cells(deal_ids)
    after.subtract(before)
    _apply(after)


def stage_tallies_kept(
    model: type[Model], ids: Collection[int], *, deal_ids: Collection[int] = ()
) -> AbstractContextManager[None]:
    """Around a write to rows `ids` of `model` (deleted, or saved by a form): keeps the tallies
    of the deals concerned, those the rows belong to now and `deal_ids` (a history row a form
    moves to another deal). Deals and history rows only; other models need nothing."""
    if model is Deal:
        return _kept({*ids, *deal_ids})
    if model is DealStageHistory:
        stored = DealStageHistory.objects.filter(pk__in=list(ids)).values_list("deal_id", flat=True)
        return _kept({*stored, *deal_ids})
    return nullcontext()


def stage_tallies_kept_on_save(instance: Model) -> AbstractContextManager[None]:
    """Around a form's save of `instance` (the admin): a stage-history row may change its deal,
    stage or entry moment, or be new. A deal's own save changes no history."""
    if not isinstance(instance, DealStageHistory):
        return nullcontext()
    ids = [] if instance.pk is None else [instance.pk]
    return stage_tallies_kept(DealStageHistory, ids, deal_ids=[instance.deal_id])
