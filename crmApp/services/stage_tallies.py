"""Keeping the tallies derived from the stage history equal to what it says, in the
transaction of the write that changes the history: `StageEntryTally` (first and latest entries
per organization, stage and UTC day: the funnel), `StayTally` (finished stays per organization,
stage, the deal's closed flag and duration bucket) and `OpenStayTally` (stays still open per
organization, stage, closed flag and day of entry): time in stage.

Three ways in:

* `stage_tally_entered` when the deal services add the newest history row of a deal (the only
  row they add): on PostgreSQL one INSERT ... SELECT that joins the services' statement batch
  (no round trip of its own); elsewhere a read of the deal's earliest and latest entry into the
  stage, then an upsert unless nothing changes (a re-entry on the day of the previous one).
* `stay_tally_transition` when the deal services close a deal's open history row or change
  its closed flag (a move, win, lose, reopen), and `stay_tally_opened` when they open a stay:
  on PostgreSQL INSERT ... SELECT statements in the batches that update the deal, close the row
  and insert the next one; elsewhere a read of the deal's stays, then upserts.
* `stage_tallies_kept` around any other write that may change a deal's history (a deal or a
  history row deleted, a history row saved in the admin): both tallies' cells of the deals
  are read before and after, and only the difference is applied.

Increments and decrements are upserts adding to the stored count, so concurrent writes of
different deals never lose one another's (each deal's writes are already serialized by its row
lock).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial

from django.db import connection, transaction
from django.db.models import Max, Min, Model

from crmApp.models import Deal, DealStageHistory, OpenStayTally, StageEntryTally, StayTally
from crmApp.models.stays import entry_cell, stay_bucket, stay_micros, stay_residue
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


# --- stays -----------------------------------------------------------------------------------

#: ("finished", organization id, stage id, deal closed, bucket, "stays" | "micros" | "residue")
#: or ("open", organization id, stage id, deal closed, day, "stays" | "offsets")
STAY_COLUMNS = ("stays", "micros", "residue")
OPEN_COLUMNS = ("stays", "offsets")
STAYS = StayTally._meta.db_table
OPEN_STAYS = OpenStayTally._meta.db_table
ADD_STAYS_ON_CONFLICT = (
    "ON CONFLICT (organization_id, stage_id, deal_closed, bucket) DO UPDATE SET "
    + ", ".join(f"{name} = tally.{name} + EXCLUDED.{name}" for name in STAY_COLUMNS)
)
ADD_OPEN_ON_CONFLICT = (
    "ON CONFLICT (organization_id, stage_id, deal_closed, day) DO UPDATE SET "
    + ", ".join(f"{name} = tally.{name} + EXCLUDED.{name}" for name in OPEN_COLUMNS)
)
#: Per kind of cell: its table, key column, value columns and conflict clause.
STAY_TABLES = {
    "finished": (STAYS, "bucket", STAY_COLUMNS, ADD_STAYS_ON_CONFLICT),
    "open": (OPEN_STAYS, "day", OPEN_COLUMNS, ADD_OPEN_ON_CONFLICT),
}


def _add_stay(cells: Counter, key: tuple[int, int, bool], micros: int, sign: int = 1) -> None:
    cell = ("finished", *key, stay_bucket(micros))
    cells[(*cell, "stays")] += sign
    cells[(*cell, "micros")] += sign * micros
    cells[(*cell, "residue")] += sign * stay_residue(micros)


def _add_open(
    cells: Counter, key: tuple[int, int, bool], entered: datetime.datetime, sign: int = 1
) -> None:
    day, offset = entry_cell(entered)
    cells[("open", *key, day, "stays")] += sign
    cells[("open", *key, day, "offsets")] += sign * offset


def _stay_cells(rows) -> Counter:
    """The cells of the stays among history `rows` (a queryset), under their deal's closed
    flag now: finished ones by duration, open ones by entry."""
    cells: Counter = Counter()
    stays = (
        rows.filter(outcome=DealStageHistory.Outcome.OPEN, stage__isnull=False)
        .order_by()
        .values_list(
            "organization_id", "stage_id", "deal__is_won", "deal__is_lost", "entered_at", "left_at"
        )
    )
    for organization_id, stage_id, won, lost, entered, left in stays.iterator(20_000):
        key = (organization_id, stage_id, won or lost)
        if left is None:
            _add_open(cells, key, entered)
        else:
            _add_stay(cells, key, stay_micros(entered, left))
    return cells


def stay_cells(deal_ids: Collection[int]) -> Counter:
    """The `StayTally` and `OpenStayTally` cells the deals' stays put them in."""
    if not deal_ids:
        return Counter()
    return _stay_cells(DealStageHistory.objects.filter(deal_id__in=list(deal_ids)))


def _stay_upserts(delta: Counter) -> list[tuple[str, list]]:
    statements = []
    for kind, (table, key_column, columns, on_conflict) in STAY_TABLES.items():
        changes: dict[tuple, list[int]] = {}
        for (cell_kind, *cell, column), change in delta.items():
            if cell_kind == kind and change:
                row = changes.setdefault(tuple(cell), [0] * len(columns))
                row[columns.index(column)] += change
        cells = sorted((cell, row) for cell, row in changes.items() if any(row))  # lock order
        width = 4 + len(columns)
        for start in range(0, len(cells), APPLY_BATCH):
            batch = cells[start : start + APPLY_BATCH]
            rows = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(batch))
            params: list = []
            for cell, row in batch:
                params += [*cell, *row]
            statements.append(
                (
                    f"INSERT INTO {table} AS tally (organization_id, stage_id, deal_closed, "
                    f"{key_column}, {', '.join(columns)}) VALUES {rows} {on_conflict}",
                    params,
                )
            )
    return statements


def _apply_stays(delta: Counter) -> None:
    for sql, params in _stay_upserts(delta):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _transition_delta(
    deal: Deal, *, was_closed: bool, now_closed: bool, at: datetime.datetime
) -> Counter:
    """`stay_tally_transition`'s change, from the deal's rows as they are before it."""
    delta: Counter = Counter()
    rows = (
        DealStageHistory.objects.filter(
            deal=deal, outcome=DealStageHistory.Outcome.OPEN, stage__isnull=False
        )
        .order_by()
        .values_list("stage_id", "entered_at", "left_at")
    )
    organization_id = deal.organization_id
    for stage_id, entered, left in rows:
        if left is None:  # the stay that ends now
            _add_open(delta, (organization_id, stage_id, was_closed), entered, -1)
            _add_stay(delta, (organization_id, stage_id, now_closed), stay_micros(entered, at))
        elif was_closed != now_closed:  # a finished stay under the deal's new flag
            micros = stay_micros(entered, left)
            _add_stay(delta, (organization_id, stage_id, was_closed), micros, -1)
            _add_stay(delta, (organization_id, stage_id, now_closed), micros)
    return delta


#: `_transition_delta` in two statements on PostgreSQL, from the deal's rows as they are before
#: the batch's statement: its open stay leaves the open tallies and ends at `at` under the new
#: flag; when the flag changes, every finished stay leaves the old flag for the new one.
#: The deal's rows are read by its id alone, behind `OFFSET 0`: with `outcome` and `left_at`
#: in the same WHERE, the partial index of every open stay (`stay_history_open_entered`) was a
#: candidate too, and with stale statistics the planner walked all of it for one deal (1,593
#: rows for each of the two statements of a move on the bench).
_STAY_ROWS = (
    f"FROM (SELECT * FROM {HISTORY} WHERE deal_id = %s::bigint OFFSET 0) AS h "
    "WHERE h.outcome = 'open' AND h.stage_id IS NOT NULL"
)
TRANSITION_SQL = (
    f"INSERT INTO {STAYS} AS tally (organization_id, stage_id, deal_closed, bucket, "
    f"{', '.join(STAY_COLUMNS)}) "
    "SELECT %s::bigint, change.stage_id, change.closed, change.bucket, SUM(change.sign), "
    "SUM(change.sign * change.micros), SUM(change.sign * change.residue) FROM ("
    "SELECT stay.stage_id, stay.closed, stay.sign, stay.micros, stay_bucket(stay.micros) AS bucket,"
    " stay_residue(stay.micros) AS residue FROM ("
    "SELECT h.stage_id, %s::boolean AS closed, 1 AS sign, "
    f"stay_micros(h.entered_at, %s::timestamptz) AS micros {_STAY_ROWS} AND h.left_at IS NULL"
    " UNION ALL SELECT h.stage_id, %s::boolean, -1, stay_micros(h.entered_at, h.left_at) "
    f"{_STAY_ROWS} AND h.left_at IS NOT NULL AND %s::boolean"
    " UNION ALL SELECT h.stage_id, %s::boolean, 1, stay_micros(h.entered_at, h.left_at) "
    f"{_STAY_ROWS} AND h.left_at IS NOT NULL AND %s::boolean"
    ") AS stay OFFSET 0) AS change GROUP BY 2, 3, 4 HAVING SUM(change.sign) <> 0 "
    f"ORDER BY 2, 3, 4 {ADD_STAYS_ON_CONFLICT}"
)
_MIDNIGHT = "((h.entered_at AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC'"
OPEN_LEFT_SQL = (
    f"INSERT INTO {OPEN_STAYS} AS tally (organization_id, stage_id, deal_closed, day, "
    f"{', '.join(OPEN_COLUMNS)}) "
    "SELECT %s::bigint, h.stage_id, %s::boolean, (h.entered_at AT TIME ZONE 'UTC')::date, -1, "
    f"-stay_micros({_MIDNIGHT}, h.entered_at) {_STAY_ROWS} AND h.left_at IS NULL "
    f"{ADD_OPEN_ON_CONFLICT}"
)


def stay_tally_transition(*, deal: Deal, was_closed: bool, at: datetime.datetime) -> None:
    """Count what a transition the deal services are about to write does to the deal's stays:
    its open history row closes `at` (when it is a stay: it leaves the open tallies and is
    counted finished, under the deal's closed flag after the transition), and when that flag
    differs from `was_closed` its finished stays move to it.

    Sent with the services' statement batch: call it before queuing the close of the open row
    (on PostgreSQL it reads the rows as they were before the batch's statement; elsewhere
    writes run in order, so it reads them before the close).
    """
    now_closed = deal.is_won or deal.is_lost
    flips = was_closed != now_closed
    organization_id = deal.organization_id
    params = [organization_id, now_closed, at, deal.pk, was_closed, deal.pk, flips]
    params += [now_closed, deal.pk, flips]

    def read_then_write() -> None:
        _apply_stays(_transition_delta(deal, was_closed=was_closed, now_closed=now_closed, at=at))

    batch_sql(StayTally, TRANSITION_SQL, params, elsewhere=read_then_write)
    left = [organization_id, was_closed, deal.pk]
    batch_sql(OpenStayTally, OPEN_LEFT_SQL, left, elsewhere=lambda: None)


def stay_tally_opened(*, deal: Deal, stage_id: int, at: datetime.datetime) -> None:
    """Count the open stay the deal services are about to add (the deal's new history row in
    `stage_id` entered `at`, of outcome open): no read, one upsert sent with the batch."""
    delta: Counter = Counter()
    _add_open(delta, (deal.organization_id, stage_id, deal.is_won or deal.is_lost), at)
    for sql, params in _stay_upserts(delta):
        batch_sql(OpenStayTally, sql, params, elsewhere=partial(_apply_stays, delta))


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
    StayTally.objects.filter(organization_id=organization_id).delete()
    OpenStayTally.objects.filter(organization_id=organization_id).delete()
    _apply_stays(_stay_cells(DealStageHistory.objects.filter(organization_id=organization_id)))
    return StageEntryTally.objects.filter(organization_id=organization_id).count()


#: Each tally kept around a write: the cells a set of deals puts in it, and how a change is
#: written.
KEPT: tuple[tuple[Callable[[Collection[int]], Counter], Callable[[Counter], None]], ...] = (
    (entry_cells, _apply),
    (stay_cells, _apply_stays),
)


@contextmanager
def _kept(deal_ids: Collection[int]) -> Iterator[None]:
    befores = [cells(deal_ids) for cells, _apply_delta in KEPT]
    yield
    for (cells, apply_delta), before in zip(KEPT, befores, strict=True):
        after = cells(deal_ids)
        after.subtract(before)
        apply_delta(after)


def stage_tallies_kept(
    model: type[Model], ids: Collection[int], *, deal_ids: Collection[int] = ()
) -> AbstractContextManager[None]:
    """Around a write to rows `ids` of `model` (deleted, or saved by a form): keeps both tallies
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
