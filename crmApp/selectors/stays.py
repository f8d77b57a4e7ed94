"""Time in stage from the stay tallies on PostgreSQL: exact `percentile_cont` without sorting
every stay, in at most three queries whatever the tenant's size.

1. The tallies of the groups (stage, the deal's closed flag): finished stays per duration bucket
   (`StayTally`) and open stays per day of entry (`OpenStayTally`), each cell an interval of
   durations with a count, plus the stages' names. A group with many finished buckets (real
   durations differ to the microsecond: up to 900 buckets per decade) comes summed per leading
   digit (`COARSE`, 9 per decade), so this query and the pass over its cells stay small. Per
   rank the percentiles interpolate between (`floor` and `ceil` of `p * (n - 1)`), the counts
   bound where the ranked stay lies: after every cell that has fewer stays than the rank up to
   its end, up to the first end where the cells ending there hold more. Only the cells
   overlapping that span are read.
2. Only when such a span overlaps summed cells: their buckets, which narrow the span again.
3. The durations of the stays in the cells the spans overlap (finished ones through an index on
   their bucket, open ones through their stage and entry), counted per distinct value; the
   ranks are picked here.

Every figure is the one PostgreSQL's `AVG` and `percentile_cont` give over the rows
(`crmApp.models.stays`): durations are read with the report's own expression, and the average
is the numeric division `AVG` makes of the exact sum of the rows' rounded values.
"""

from __future__ import annotations

import bisect
import datetime
import math
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from itertools import accumulate
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import connections

from crmApp.models import (
    Deal,
    DealStageHistory,
    OpenStayTally,
    Pipeline,
    PipelineStage,
    StayTally,
)
from crmApp.models.stays import bucket_range, bucket_scale, pg_average, units_of_sums

if TYPE_CHECKING:
    from crmApp.selectors.reports import ReportFilters

FRACTIONS = (0.5, 0.9)
DAY_MICROS = 86_400_000_000
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
#: (stage id, deal closed)
Group = tuple[int, bool]
#: A cell: ("finished", bucket), ("coarse", its first bucket: see `coarse_range`) or ("open",
#: day number since 1970-01-01)
Cell = tuple[str, int]
#: A bucket's summed cell: buckets of 3 significant digits whose first digit is the same (from
#: 3 digits on: `digits * 1000 + leading`, see `crmApp.models.stays`). Its bounds fall on
#: `9 * 10**k` µs too, so one cell's stays share a day scale. Shorter and negative durations
#: keep their buckets.
COARSE_FROM = 3000
COARSE_WIDTH = 100
#: The keys a group carries, as `reports.time_in_stage` reads them.
NAMES = (
    "stage_id",
    "stage__name",
    "stage__order",
    "stage__pipeline_id",
    "stage__pipeline__name",
    "deal_closed",
)
HISTORY = DealStageHistory._meta.db_table
DEALS = Deal._meta.db_table
STAGES = PipelineStage._meta.db_table
PIPELINES = Pipeline._meta.db_table
FINISHED = StayTally._meta.db_table
STILL_OPEN = OpenStayTally._meta.db_table
#: The report's duration of a stay, as `reports._duration` compiles it (left_at, or now).
DAYS = "(EXTRACT(EPOCH FROM (({end})::timestamp - (h.entered_at)::timestamp)) / 86400.0)"
CLOSED = "(d.is_won OR d.is_lost)"
DAY_NUMBER = "((h.entered_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
#: How far the sum of open stays' rounded day counts may be from their exact durations, per
#: stay (numeric keeps at least 8 decimals for any duration a bigint of microseconds holds).
OPEN_ROUNDING = Fraction(1, 2 * 10**8)


def _tallies_sql(pipeline: bool) -> str:
    of_pipeline = (
        f" JOIN {STAGES} s ON s.id = t.stage_id AND s.pipeline_id = %(pipeline)s"
        if pipeline
        else ""
    )
    summed = f"t.bucket >= {COARSE_FROM}"
    return (
        f"WITH finished AS (SELECT t.stage_id, t.deal_closed, {summed} AS summed, "
        f"CASE WHEN {summed} THEN t.bucket - t.bucket %% {COARSE_WIDTH} ELSE t.bucket END "
        "AS bucket, SUM(t.stays)::integer AS stays, SUM(t.micros) AS micros, "
        f"SUM(t.residue) AS residue FROM {FINISHED} t{of_pipeline} "
        "WHERE t.organization_id = ANY(%(organizations)s) AND t.stays <> 0 "
        "GROUP BY 1, 2, 3, 4), "
        "still_open AS (SELECT t.stage_id, t.deal_closed, t.day - DATE '1970-01-01' AS day, "
        f"t.stays, t.offsets FROM {STILL_OPEN} t{of_pipeline} "
        "WHERE t.organization_id = ANY(%(organizations)s) AND t.stays <> 0) "
        "SELECT CASE WHEN summed THEN 'coarse' ELSE 'finished' END, stage_id, deal_closed, "
        "bucket, stays, micros, residue, NULL::text, NULL::integer, NULL::bigint, NULL::text "
        "FROM finished "
        "UNION ALL SELECT 'open', stage_id, deal_closed, day, stays, offsets, 0, NULL, NULL, "
        "NULL, NULL FROM still_open "
        "UNION ALL SELECT 'stage', s.id, NULL, NULL, NULL, NULL, NULL, s.name, s.\"order\", "
        f"s.pipeline_id, p.name FROM {STAGES} s LEFT JOIN {PIPELINES} p ON p.id = s.pipeline_id "
        "WHERE s.id IN (SELECT stage_id FROM finished UNION SELECT stage_id FROM still_open)"
    )


def coarse_range(first: int) -> tuple[int, int]:
    """The durations (µs, both ends included) of the summed cell starting at bucket `first`."""
    return bucket_range(first)[0], bucket_range(first + COARSE_WIDTH - 1)[1]


def _family(cell: Cell) -> str:
    """Cells of one family never overlap: finished buckets, summed or not, and open days."""
    return "open" if cell[0] == "open" else "finished"


class StaleTallies(LookupError):
    """The tallies and the rows read after them disagree: a write committed between the
    report's queries (each reads the database as it is then). The caller reads the rows."""


class _Cell(NamedTuple):
    low: int  # shortest duration (µs)
    high: int  # longest duration (µs)
    stays: int
    cell: Cell


class _Group:
    """One group's cells and sums."""

    def __init__(self) -> None:
        self.cells: list[_Cell] = []
        #: Per day scale of the finished stays: [summed micros, summed residues].
        self.finished: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.open_stays = 0
        self.open_micros = 0  # exact sum of the open stays' durations
        self.count = 0

    def ordered(self) -> None:
        """Sort the cells by their ends and starts once, with the running counts `_span` uses,
        and each family's cells (disjoint, so ordered alike by start and end) for `_wanted`."""
        self.by_high = sorted(self.cells, key=lambda cell: cell.high)
        self.done = list(accumulate(cell.stays for cell in self.by_high))
        self.by_low = sorted(self.cells, key=lambda cell: cell.low)
        self.before = [0, *accumulate(cell.stays for cell in self.by_low)]
        self.highs = [cell.high for cell in self.by_high]
        self.stays = {cell.cell: cell.stays for cell in self.cells}
        families: dict[str, list[_Cell]] = defaultdict(list)
        for cell in self.by_high:
            families[_family(cell.cell)].append(cell)
        self.families = [
            ([cell.high for cell in cells], [cell.low for cell in cells], cells)
            for cells in families.values()
        ]
        self.count = self.done[-1]


def _read_tallies(cursor, filters: ReportFilters) -> tuple[dict[Group, _Group], dict[int, tuple]]:
    now_micros = _micros(filters.now)
    groups: dict[Group, _Group] = defaultdict(_Group)
    stages: dict[int, tuple] = {}
    params = {
        "organizations": sorted(filters.organization_ids),
        "pipeline": filters.pipeline_id,
    }
    cursor.execute(_tallies_sql(filters.pipeline_id is not None), params)
    for kind, stage_id, closed, key, stays, first, second, *names in cursor.fetchall():
        if kind == "stage":
            stages[stage_id] = tuple(names)
            continue
        group = groups[(stage_id, closed)]
        if kind != "open":
            low, high = bucket_range(key) if kind == "finished" else coarse_range(key)
            group.cells.append(_Cell(low, high, stays, (kind, key)))
            sums = group.finished[bucket_scale(key)]
            sums[0] += int(first)  # numeric: the column holds sums of bigints too
            sums[1] += int(second)
        else:
            midnight = key * DAY_MICROS
            # Entered from midnight to the next: lasted (now - next midnight, now - midnight].
            low, high = now_micros - midnight - DAY_MICROS + 1, now_micros - midnight
            group.cells.append(_Cell(low, high, stays, ("open", key)))
            group.open_stays += stays
            group.open_micros += stays * (now_micros - midnight) - int(first)
    for group in groups.values():
        group.ordered()
    return groups, stages


def _micros(moment: datetime.datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _span(group: _Group, rank: int) -> tuple[int | None, int]:
    """Bounds (after, up to) of the duration of the stay at `rank` (0-based): more than `after`
    (None: any), at most `up to`, from the cells' counts alone."""
    up_to = group.by_high[bisect.bisect_left(group.done, rank + 1)].high  # cells ending there
    # The last cell with at most `rank` stays in cells starting before it.
    last = bisect.bisect_right(group.before, rank, hi=len(group.by_low)) - 1
    return (group.by_low[last].low - 1 if last >= 0 else None), up_to


class _Wanted(NamedTuple):
    """Where a rank is found: below the cells read, `below` stays; the cells read."""

    below: int
    cells: frozenset[Cell]


def _wanted(group: _Group, rank: int) -> _Wanted:
    after, up_to = _span(group, rank)
    # The cells overlapping the span: ending after `after` and starting by `up_to`, one run of
    # each family's cells.
    read: set[Cell] = set()
    for highs, lows, cells in group.families:
        start = 0 if after is None else bisect.bisect_right(highs, after)
        read.update(cell.cell for cell in cells[start : bisect.bisect_right(lows, up_to)])
    first = 0 if after is None else bisect.bisect_right(group.highs, after)
    below = group.done[first - 1] if first else 0  # every cell ending by `after`
    return _Wanted(below, frozenset(read))


def _values_sql(
    organizations: list[int],
    now: datetime.datetime,
    finished: list[tuple[int, int]],
    still_open: list[tuple[int, datetime.datetime, datetime.datetime]],
    unsure: list[Group],
) -> tuple[str, list[Any]]:
    """The distinct durations (with their counts) of the finished stays in the (stage, bucket)
    cells `finished` and of the open ones of a stage entered within a span, and the sum of the
    open stays' day counts of the `unsure` groups. Joined to lists of values, so that each cell
    is one index scan."""
    parts, params = [], []
    if finished:
        # A cell whose stays all lasted the same (ties are common: whole hours, whole days) is
        # answered without its deals: that value is every rank's in it, whatever the flag.
        cells = ", ".join(["(%s::bigint, %s::integer)"] * len(finished))
        rows = (
            f"SELECT w.stage_id, w.bucket, h.deal_id, {DAYS.format(end='h.left_at')} AS days "
            f"FROM (VALUES {cells}) AS w (stage_id, bucket) JOIN {HISTORY} h "
            "ON h.stage_id = w.stage_id "
            "AND stay_bucket(stay_micros(h.entered_at, h.left_at)) = w.bucket "
            "AND h.outcome = 'open' AND h.left_at IS NOT NULL AND h.stage_id IS NOT NULL "
            "WHERE h.organization_id = ANY(%s)"
        )
        parts.append(
            f"(WITH cell_rows AS MATERIALIZED ({rows}), spread AS (SELECT stage_id, bucket "
            "FROM cell_rows GROUP BY 1, 2 HAVING MIN(days) < MAX(days)) "
            f"SELECT 'finished', r.stage_id, {CLOSED}, r.bucket, r.days, COUNT(*) "
            f"FROM cell_rows r JOIN {DEALS} d ON d.id = r.deal_id "
            "WHERE (r.stage_id, r.bucket) IN (SELECT stage_id, bucket FROM spread) "
            "GROUP BY 1, 2, 3, 4, 5 "
            "UNION ALL SELECT 'same', r.stage_id, NULL, r.bucket, MIN(r.days), COUNT(*) "
            "FROM cell_rows r WHERE (r.stage_id, r.bucket) NOT IN (SELECT stage_id, bucket "
            "FROM spread) GROUP BY 1, 2, 4)"
        )
        params += [*(value for cell in finished for value in cell), organizations]
    if still_open:
        cells = ", ".join(["(%s::bigint, %s::timestamptz, %s::timestamptz)"] * len(still_open))
        parts.append(
            f"SELECT 'open', h.stage_id, {CLOSED}, {DAY_NUMBER}, "
            f"{DAYS.format(end='%s::timestamptz')}, COUNT(*) "
            f"FROM (VALUES {cells}) AS w (stage_id, low, high) CROSS JOIN LATERAL ("
            f"SELECT * FROM {HISTORY} h WHERE h.stage_id = w.stage_id "
            "AND h.entered_at >= w.low AND h.entered_at < w.high "
            "AND h.left_at IS NULL AND h.outcome = 'open' OFFSET 0) AS h "
            f"JOIN {DEALS} d ON d.id = h.deal_id WHERE h.organization_id = ANY(%s) "
            "GROUP BY 1, 2, 3, 4, 5"
        )
        params += [now, *(value for cell in still_open for value in cell), organizations]
    if unsure:
        groups = " OR ".join(f"(h.stage_id = %s AND {CLOSED} = %s)" for _ in unsure)
        parts.append(
            f"SELECT 'sum', h.stage_id, {CLOSED}, NULL, "
            f"SUM({DAYS.format(end='%s::timestamptz')}), COUNT(*) "
            f"FROM {HISTORY} h JOIN {DEALS} d ON d.id = h.deal_id "
            "WHERE h.organization_id = ANY(%s) AND h.left_at IS NULL AND h.outcome = 'open' "
            f"AND h.stage_id IS NOT NULL AND ({groups}) GROUP BY 1, 2, 3"
        )
        params += [now, organizations, *(value for group in unsure for value in group)]
    return " UNION ALL ".join(parts), params


def stay_groups(filters: ReportFilters, alias: str) -> Iterable[dict[str, Any]]:
    """The report's groups (stage, closed flag: count, average, median, p90) from the tallies."""
    with connections[alias].cursor() as cursor:
        groups, stages = _read_tallies(cursor, filters)
        wanted = {key: _ranks_wanted(group) for key, group in groups.items()}
        summed = _summed_cells(wanted)
        if summed:
            _refine(cursor, filters, groups, summed)
            for key in summed:
                wanted[key] = _ranks_wanted(groups[key])
            if _summed_cells(wanted):  # the refined counts are not the summed ones
                raise StaleTallies("the tallies changed between their queries")
        averages = {key: _average(group) for key, group in groups.items()}
        unsure = sorted(key for key, average in averages.items() if average is None)
        values, open_days = _read_values(cursor, filters, groups, wanted, unsure)
    for key, group in groups.items():
        count = group.count
        average = averages[key]
        if average is None:
            average = _exact_average(group, open_days[key])
        ordered = {
            rank: _pick(group, values[key], place.cells, rank - place.below)
            for rank, place in wanted[key].items()
        }
        median, p90 = (_percentile(ordered, count, fraction) for fraction in FRACTIONS)
        name, order, pipeline_id, pipeline_name = stages[key[0]]
        yield {
            **dict(
                zip(NAMES, (key[0], name, order, pipeline_id, pipeline_name, key[1]), strict=True)
            ),
            "count": count,
            "average": average,
            "median": median,
            "p90": p90,
        }


def _ranks_wanted(group: _Group) -> dict[int, _Wanted]:
    count = group.count
    ranks = {f(fraction * (count - 1)) for fraction in FRACTIONS for f in (math.floor, math.ceil)}
    return {rank: _wanted(group, rank) for rank in ranks}


def _summed_cells(wanted: dict[Group, dict[int, _Wanted]]) -> dict[Group, set[int]]:
    """Per group, the summed cells some rank's span overlaps (their first buckets)."""
    summed: dict[Group, set[int]] = defaultdict(set)
    for key, places in wanted.items():
        for place in places.values():
            summed[key].update(first for kind, first in place.cells if kind == "coarse")
    return {key: firsts for key, firsts in summed.items() if firsts}


def _refine(cursor, filters: ReportFilters, groups: dict[Group, _Group], summed) -> None:
    """Query 2: the buckets of the summed cells `summed`, in place of those cells. A refined
    group's spans can only narrow (its counts are the same, told more finely), so they then
    overlap buckets and open days only."""
    cells = [
        (stage_id, closed, first, first + COARSE_WIDTH - 1)
        for (stage_id, closed), firsts in sorted(summed.items())
        for first in sorted(firsts)
    ]
    values = ", ".join(["(%s::bigint, %s::boolean, %s::integer, %s::integer)"] * len(cells))
    cursor.execute(
        f"SELECT t.stage_id, t.deal_closed, t.bucket, t.stays FROM (VALUES {values}) "
        f"AS w (stage_id, deal_closed, low, high) JOIN {FINISHED} t ON t.stage_id = w.stage_id "
        "AND t.deal_closed = w.deal_closed AND t.bucket BETWEEN w.low AND w.high "
        "WHERE t.organization_id = ANY(%s) AND t.stays <> 0",
        [*(value for cell in cells for value in cell), sorted(filters.organization_ids)],
    )
    for stage_id, closed, bucket, stays in cursor.fetchall():
        low, high = bucket_range(bucket)
        groups[(stage_id, closed)].cells.append(_Cell(low, high, stays, ("finished", bucket)))
    for key, firsts in summed.items():
        group = groups[key]
        group.cells = [
            cell
            for cell in group.cells
            if not (cell.cell[0] == "coarse" and cell.cell[1] in firsts)
        ]
        group.ordered()


def _read_values(cursor, filters: ReportFilters, groups, wanted, unsure):
    """The last query: per group, the (cell, duration, how many) of the cells to read; the
    exact sum of the open stays' day counts of the `unsure` groups."""
    finished: set[tuple[int, int]] = set()
    still_open: set[tuple[int, int]] = set()
    for (stage_id, _closed), places in wanted.items():
        for place in places.values():
            for kind, key in place.cells:
                (finished if kind == "finished" else still_open).add((stage_id, key))
    spans = [
        (
            stage_id,
            EPOCH + datetime.timedelta(days=day),
            EPOCH + datetime.timedelta(days=day + 1),
        )
        for stage_id, day in sorted(still_open)
    ]
    values: dict[Group, list[tuple[Cell, Decimal, int | None]]] = defaultdict(list)
    open_days: dict[Group, Decimal] = {}
    if not (finished or spans or unsure):
        return values, open_days
    organizations = sorted(filters.organization_ids)
    cursor.execute(*_values_sql(organizations, filters.now, sorted(finished), spans, unsure))
    for kind, stage_id, closed, key, days, how_many in cursor.fetchall():
        if kind == "sum":
            open_days[(stage_id, closed)] = days
        elif kind == "same":  # every stay of the cell, of either flag, lasted `days`
            for flag in (False, True):
                values[(stage_id, flag)].append((("finished", key), days, None))
        else:
            values[(stage_id, closed)].append(((kind, key), days, how_many))
    return values, open_days


def _pick(group: _Group, values: list, cells: frozenset[Cell], index: int) -> float:
    """The value at `index` (0-based) of the sorted durations of `cells` (a cell of one value
    comes with no count: it holds as many stays as its tally says)."""
    seen = 0
    for cell, days, how_many in sorted((r for r in values if r[0] in cells), key=_days_of):
        seen += group.stays[cell] if how_many is None else how_many
        if index < seen:
            return float(days)
    raise StaleTallies("the tallies count more stays than the history holds")


def _days_of(row: tuple[Cell, Decimal, int | None]) -> Decimal:
    return row[1]


def _closed_units(group: _Group, scale: int) -> int:
    return sum(
        units_of_sums(micros, residue, row_scale, scale)
        for row_scale, (micros, residue) in group.finished.items()
    )


def _finished_scale(group: _Group) -> int:
    return max(group.finished, default=0)


def _average(group: _Group) -> float | None:
    """The group's average as the report rounds it, or None when the open stays' rounding
    could decide it (then `_exact_average` reads their exact sum).

    Finished stays' sums are exact (their residues); open stays' rounded day counts change with
    now and are not tallied, so their exact durations stand in for them: the mean moves by less
    than 10**-8 days, which changes the report's two decimals only when the mean sits on a
    rounding step."""
    count, scale = group.count, _finished_scale(group)
    if not group.open_stays:
        return pg_average(_closed_units(group, scale), scale, count)
    total = Fraction(_closed_units(group, scale), 10**scale)
    mean = (total + Fraction(group.open_micros, DAY_MICROS)) / count
    margin = group.open_stays * OPEN_ROUNDING / count + Fraction(1, 10**11)
    low, high = ((mean + sign * margin) * 100 - Fraction(1, 2) for sign in (-1, 1))
    if math.floor(low) != math.floor(high) or low.denominator == 1:
        return None
    return float(mean)


def _exact_average(group: _Group, open_days: Decimal) -> float:
    exponent = open_days.as_tuple().exponent
    assert isinstance(exponent, int)
    scale = max(_finished_scale(group), -exponent)
    units = _closed_units(group, scale) + int(open_days.scaleb(scale))
    return pg_average(units, scale, group.count)


def _percentile(ordered: dict[int, float], count: int, fraction: float) -> float:
    """`percentile_cont` from the values at its two ranks (PostgreSQL's interpolation)."""
    position = fraction * (count - 1)
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
