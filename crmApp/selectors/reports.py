"""The reports: sales funnel, time in stage, win rate, velocity, forecast, lead sources.

Each report is one query over rows the caller may read (every query starts at a selector's
`visible()`), grouped in the database; the few group rows are shaped here. The win rate reads
its owners' names in a second one, and time in stage from the stay tallies takes three
(`selectors/stays.py`). Together with the one lookup that validates a `pipeline` and an `owner`
(`narrowing`), the number of queries does not depend on the tenant's size. Money is summed as
decimals and answered as strings with two places; rates are fractions rounded to 4 places,
durations days rounded to 2.

Periods (`start`, `end`) are inclusive dates, compared in UTC (the database's time zone).
"""

from __future__ import annotations

import datetime
import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import (
    Avg,
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DateTimeField,
    IntegerField,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Cast, Coalesce, TruncDate, TruncMonth, TruncQuarter
from django.utils import timezone

from crmApp.db_routing import read_alias, reading
from crmApp.models import Deal, DealStageHistory, Lead, StageEntryTally
from crmApp.models.base import tenant_filter
from crmApp.selectors.counting import cached_figures
from crmApp.selectors.deals import DealSelector
from crmApp.selectors.employees import EmployeeSelector
from crmApp.selectors.expressions import DaysBetween, PercentilesCont, percentile_cont
from crmApp.selectors.leads import LeadSelector
from crmApp.selectors.pipelines import PipelineSelector, PipelineStageSelector
from crmApp.selectors.stays import StaleTallies, stay_groups

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal(0)
GROUP_BY = ("month", "quarter")


@dataclass(frozen=True)
class ReportFilters:
    """What a report covers: the organizations read, and the optional narrowing."""

    organization_ids: frozenset[int]
    pipeline_id: int | None = None
    start: datetime.date | None = None
    end: datetime.date | None = None
    owner_id: int | None = None
    group_by: str = "month"
    now: datetime.datetime = field(default_factory=timezone.now)
    #: The pipeline's stage ids, when known (a request's `narrowing` lookup reads them): the
    #: history is then filtered by these constants instead of a join to the stages (`_history`).
    stage_ids: tuple[int, ...] | None = None

    def moment_range(self, path: str) -> Q:
        """`path` (a datetime) within [start, end] as half-open UTC bounds (index-friendly)."""
        q = Q()
        if self.start is not None:
            q &= Q(**{f"{path}__gte": _midnight(self.start)})
        if self.end is not None:
            q &= Q(**{f"{path}__lt": _midnight(self.end + datetime.timedelta(days=1))})
        return q

    def date_range(self, path: str) -> Q:
        """`path` (a date) within [start, end]."""
        q = Q()
        if self.start is not None:
            q &= Q(**{f"{path}__gte": self.start})
        if self.end is not None:
            q &= Q(**{f"{path}__lte": self.end})
        return q


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)


def _money(value: Decimal | None) -> str:
    return f"{(value or ZERO).quantize(CENT):f}"


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _days(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --- validation lookups (one query each) -------------------------------------------------------


@dataclass(frozen=True)
class Narrowing:
    """What `narrowing` found of a report's `pipeline` and `owner`."""

    pipeline_found: bool = False
    owner_found: bool = False
    #: The stage ids of the pipeline found (empty for a pipeline without stages).
    stage_ids: tuple[int, ...] = ()


def narrowing(
    organization_ids: Collection[int], *, pipeline_id: int | None, owner_id: int | None
) -> Narrowing:
    """Whether the pipeline and the owner a report asks for are visible to the caller, and the
    pipeline's stage ids: one query for both (none when neither is asked for)."""
    kind = CharField()
    parts = []
    if pipeline_id is not None:
        pipeline = PipelineSelector().visible(organization_ids).filter(pk=pipeline_id)
        parts.append(pipeline.values_list(Value("pipeline", output_field=kind), "stages__id"))
    if owner_id is not None:
        owner = EmployeeSelector().visible(organization_ids).filter(pk=owner_id)
        parts.append(
            owner.values_list(
                Value("owner", output_field=kind), Value(None, output_field=IntegerField())
            )
        )
    if not parts:
        return Narrowing()
    rows = list(parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0])
    return Narrowing(
        pipeline_found=any(found == "pipeline" for found, _ in rows),
        owner_found=any(found == "owner" for found, _ in rows),
        stage_ids=tuple(sorted(stage for found, stage in rows if stage is not None)),
    )


# --- the narrowing every deal-based report shares ----------------------------------------------


def _deals(filters: ReportFilters) -> QuerySet[Deal]:
    deals = DealSelector().visible(filters.organization_ids)
    if filters.pipeline_id is not None:
        deals = deals.filter(pipeline_id=filters.pipeline_id)
    if filters.owner_id is not None:
        deals = deals.filter(assigned_to_id=filters.owner_id)
    return deals.order_by()


def _history(filters: ReportFilters) -> QuerySet[DealStageHistory]:
    rows = DealStageHistory.objects.filter(
        **tenant_filter(DealStageHistory, filters.organization_ids)
    ).filter(filters.moment_range("entered_at"))
    if filters.stage_ids is not None:
        # The same rows as the join below, planned from the history's own statistics. Through
        # the join, a stages table PostgreSQL never analysed (autovacuum analyses a table
        # after 50 changed rows; a tenant's few stages rarely get there) was estimated at one
        # row, and the narrowed funnel probed the deal of each of 825k history rows: 1.2 s
        # instead of 0.11 s at 1M rows (bench/REPORTS.md).
        rows = rows.filter(stage_id__in=filters.stage_ids)
    elif filters.pipeline_id is not None:
        rows = rows.filter(stage__pipeline_id=filters.pipeline_id)
    if filters.owner_id is not None:
        # The deals' organization too, so their ids come from `deals_owner_reports` alone.
        deal_scope = {
            f"deal__{k}": v for k, v in tenant_filter(Deal, filters.organization_ids).items()
        }
        rows = rows.filter(deal__assigned_to_id=filters.owner_id, **deal_scope)
    return rows.order_by()


OPEN = Q(is_won=False, is_lost=False)
CLOSED = Q(is_won=True) | Q(is_lost=True)


# --- funnel -----------------------------------------------------------------------------------


def funnel(filters: ReportFilters) -> dict[str, Any]:
    """Per pipeline, per stage in order: how many deals entered the stage (distinct deals with a
    history row there in the period) and the ratio to the stage before it. Without an owner and
    with at most one bound of the period, the counts are read from the stage tallies
    (`_tallies_answer`).

    Every stage appears, reached or not (the stages drive the query, history is counted with a
    filtered aggregate). A deal that skipped a stage is not counted in it, so a ratio can exceed
    1 when deals jump ahead.
    """
    stages = PipelineStageSelector().visible(filters.organization_ids)
    if filters.pipeline_id is not None:
        stages = stages.filter(pipeline_id=filters.pipeline_id)
    # Every stage (reached 0) UNION ALL the history grouped by stage, in one query. Grouping the
    # filtered history by itself lets PostgreSQL start from the owner's deals; the former LEFT
    # JOIN of every history row to the stages with a filtered aggregate read all of them
    # (1M rows, owner and period filters: 5.3 s -> 0.1 s).
    keys = ("id", "name", "order", "pipeline_id", "pipeline__name")
    every_stage = stages.order_by().values(*keys, reached=Value(0, output_field=IntegerField()))
    # Grouped by the stage id alone (grouping 1M rows by the names too took seconds); the
    # other columns are nulls that tell these rows from the stages' own.
    nothing = {
        "stage_name": Value(None, output_field=CharField()),
        "stage_order": Value(None, output_field=IntegerField()),
        "no_pipeline": Value(None, output_field=IntegerField()),
        "pipeline_name": Value(None, output_field=CharField()),
    }
    if _tallies_answer(filters):
        entered = (
            _tallies(filters)
            .values("stage_id")
            .annotate(**nothing, reached=_reached_from_tallies(filters))
            .values("stage_id", *nothing, "reached")
        )
    else:
        entered = (
            _history(filters)
            .values("stage_id")
            .annotate(**nothing, reached=Count("deal_id", distinct=True))
            .values("stage_id", *nothing, "reached")
        )
    reached: dict[int, int] = defaultdict(int)
    listed: list[dict[str, Any]] = []
    for row in every_stage.union(entered, all=True):
        if row["pipeline_id"] is None:
            reached[row["id"]] += row["reached"]
        else:
            listed.append(row)
    listed.sort(key=lambda row: (row["pipeline_id"], row["order"], row["id"]))
    rows = [{**row, "reached": reached[row["id"]]} for row in listed]
    pipelines: dict[int, dict[str, Any]] = {}
    for row in rows:
        pipeline = pipelines.setdefault(
            row["pipeline_id"],
            {"id": row["pipeline_id"], "name": row["pipeline__name"], "stages": []},
        )
        previous = pipeline["stages"][-1]["reached"] if pipeline["stages"] else None
        pipeline["stages"].append(
            {
                "id": row["id"],
                "name": row["name"],
                "order": row["order"],
                "reached": row["reached"],
                "conversion": None if previous is None else _rate(row["reached"], previous),
            }
        )
    return {"pipelines": list(pipelines.values())}


def _tallies_answer(filters: ReportFilters) -> bool:
    """Whether the first/latest-entry tallies give the funnel's exact counts for these filters.

    A deal entered a stage within the period when one of its rows there is in it. With no start
    day that is "its earliest row there is on or before the end day"; with no end day, "it has
    a row there and its latest is not before the start day" (`_reached_from_tallies`). Both
    bounds (a deal may have left the stage before the period and come back after it) or an
    owner (the deal's current assignee, not part of the history) need the rows themselves;
    either narrows what is read, so that plain query is the smaller one.
    """
    return filters.owner_id is None and (filters.start is None or filters.end is None)


def _tallies(filters: ReportFilters) -> QuerySet[StageEntryTally]:
    tallies = StageEntryTally.objects.filter(
        **tenant_filter(StageEntryTally, filters.organization_ids)
    )
    if filters.pipeline_id is not None:
        tallies = tallies.filter(stage__pipeline_id=filters.pipeline_id)
    if filters.end is not None:
        tallies = tallies.filter(day__lte=filters.end)
    return tallies.order_by()


def _reached_from_tallies(filters: ReportFilters) -> Sum | CombinedExpression:
    """Per stage, the deals that entered it in the period, from `StageEntryTally` (a few rows
    per stage and day instead of every history row: the unfiltered funnel at 1M history rows,
    250 ms -> 6 ms; bench/REPORTS.md): those first in up to the end day, or, from a start day,
    every deal first in less those whose latest entry is before that day."""
    first_in = Sum("first_entries")
    if filters.start is None:
        return first_in
    gone_before = Sum("last_entries", filter=Q(day__lt=filters.start))
    return first_in - Coalesce(gone_before, Value(0))


# --- time in stage ----------------------------------------------------------------------------

STAGE_KEYS = ("stage_id", "stage__name", "stage__order", "stage__pipeline_id")


def _duration(filters: ReportFilters) -> DaysBetween:
    """Days a history row lasted, or has lasted so far when it is still open."""
    now = Value(filters.now, output_field=DateTimeField())
    return DaysBetween(Coalesce("left_at", now), "entered_at")


def _deal_closed() -> Case:
    return Case(
        When(Q(deal__is_won=True) | Q(deal__is_lost=True), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def _figures(count: int, average: float | None, median: float | None, p90: float | None):
    return {
        "count": count,
        "average_days": _days(average),
        "median_days": _days(median),
        "p90_days": _days(p90),
    }


def _time_in_stage_postgresql(rows: QuerySet, filters: ReportFilters) -> Iterable[dict]:
    """Grouped by stage id and outcome only, the stage's names read with MIN (one value per
    stage): grouping 1M rows by the name columns sorted them to disk (7 s). Both percentiles
    come from one sort of each group's durations."""
    duration = _duration(filters)
    names = {f"{key}_": Min(key) for key in (*STAGE_KEYS[1:], "stage__pipeline__name")}
    for group in (
        rows.values("stage_id", "deal_closed")
        .annotate(
            **names,
            count=Count("*"),  # not the id: the rows' index holds every other column read
            average=Avg(duration),
            percentiles=PercentilesCont(duration, fractions=(0.5, 0.9)),
        )
        .order_by()
    ):
        for key in names:
            group[key[:-1]] = group.pop(key)
        group["median"], group["p90"] = group.pop("percentiles")
        yield group


def _time_in_stage_in_python(rows: QuerySet, filters: ReportFilters) -> Iterable[dict]:
    """Without an ordered-set aggregate (SQLite) the durations are read, ordered by the
    database, and `percentile_cont` is computed here with PostgreSQL's interpolation."""
    durations: dict[tuple, list[float]] = defaultdict(list)
    keys = (*STAGE_KEYS, "stage__pipeline__name", "deal_closed")
    for row in rows.annotate(duration=_duration(filters)).values_list(*keys, "duration"):
        durations[row[:-1]].append(row[-1])
    for group, values in durations.items():
        values.sort()
        yield {
            **dict(zip(keys, group, strict=True)),
            "count": len(values),
            "average": sum(values) / len(values),
            "median": percentile_cont(values, 0.5),
            "p90": percentile_cont(values, 0.9),
        }


def _stay_tallies_answer(filters: ReportFilters, vendor: str) -> bool:
    """Whether time in stage is read from `StayTally` (PostgreSQL, no period, no owner): the
    tallies count every finished stay, by stage and the deal's flag now; a period or an owner
    would need those dimensions too, and either narrows the rows read enough."""
    return (
        vendor == "postgresql"
        and filters.start is None
        and filters.end is None
        and filters.owner_id is None
    )


def time_in_stage(filters: ReportFilters) -> dict[str, Any]:
    """Per stage: average, median and 90th percentile of the days deals spent in it, apart for
    deals now open and deals now closed (won or lost).

    A stay is a history row entered in the period while the deal was open (`outcome = open`);
    it lasts until it was left, or until now when the deal is still there. Stages no deal
    entered in the period are left out.
    """
    rows = (
        _history(filters)
        .filter(outcome=DealStageHistory.Outcome.OPEN, stage__isnull=False)
        .annotate(deal_closed=_deal_closed())
        .values(*STAGE_KEYS, "stage__pipeline__name", "deal_closed")
    )
    alias = router.db_for_read(DealStageHistory)
    vendor = connections[alias].vendor
    groups: Iterable[dict[str, Any]]
    if _stay_tallies_answer(filters, vendor):
        try:
            groups = list(stay_groups(filters, alias))
        except StaleTallies:  # rare: a deal moved between its queries; the rows are one read
            groups = _time_in_stage_postgresql(rows, filters)
    elif vendor == "postgresql":
        groups = _time_in_stage_postgresql(rows, filters)
    else:
        groups = _time_in_stage_in_python(rows, filters)
    empty = _figures(0, None, None, None)
    stages: dict[int, dict[str, Any]] = {}
    for group in groups:
        stage = stages.setdefault(
            group["stage_id"],
            {
                "stage_id": group["stage_id"],
                "stage_name": group["stage__name"],
                "pipeline_id": group["stage__pipeline_id"],
                "pipeline_name": group["stage__pipeline__name"],
                "order": group["stage__order"],
                "open_deals": empty,
                "closed_deals": empty,
            },
        )
        key = "closed_deals" if group["deal_closed"] else "open_deals"
        stage[key] = _figures(group["count"], group["average"], group["median"], group["p90"])
    ordered = sorted(stages.values(), key=lambda s: (s["pipeline_id"], s["order"], s["stage_id"]))
    return {"stages": ordered}


# --- win rate ---------------------------------------------------------------------------------


def _period_label(day: datetime.date, group_by: str) -> str:
    if group_by == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


def _tally(won: int, closed: int) -> dict[str, Any]:
    return {"won": won, "lost": closed - won, "closed": closed, "win_rate": _rate(won, closed)}


def win_rate(filters: ReportFilters) -> dict[str, Any]:
    """Won ÷ closed over deals closed in the period, by close period, by owner and by source.

    The source is that of the lead the deal came from, else the deal's own `source`.
    """
    trunc = TruncQuarter if filters.group_by == "quarter" else TruncMonth
    rows = (
        _deals(filters)
        .filter(CLOSED, filters.date_range("actual_close_date"))
        # Grouped by the owner's id alone, the names read after for the few owners: grouping
        # 55k closed deals by two text columns too sorted them all (88-126 ms against a hash
        # aggregate's 44-66 ms).
        .values(
            "is_won",
            "assigned_to_id",
            period=trunc("actual_close_date"),
            lead_source=Coalesce("lead__source", "source"),
        )
        .annotate(count=Count("id"))
    )
    periods: dict[datetime.date | None, list[int]] = defaultdict(lambda: [0, 0])
    owners: dict[int | None, list[Any]] = {}
    sources: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        won = row["count"] if row["is_won"] else 0
        owner = owners.setdefault(row["assigned_to_id"], [0, 0, None])
        for tally in (periods[row["period"]], owner, sources[row["lead_source"]]):
            tally[0] += won
            tally[1] += row["count"]
    named = [pk for pk in owners if pk is not None]
    if named:
        employees = EmployeeSelector().visible(filters.organization_ids).filter(pk__in=named)
        for pk, first_name, last_name in employees.values_list("pk", "first_name", "last_name"):
            owners[pk][2] = f"{first_name} {last_name}"
    won_total = sum(tally[0] for tally in periods.values())
    closed_total = sum(tally[1] for tally in periods.values())
    return {
        "group_by": filters.group_by,
        "total": _tally(won_total, closed_total),
        "by_period": [
            {"period": _period_label(day, filters.group_by), **_tally(*periods[day])}
            for day in sorted(day for day in periods if day is not None)
        ],
        "by_owner": [
            {"owner_id": pk, "owner_name": owners[pk][2], **_tally(owners[pk][0], owners[pk][1])}
            for pk in sorted(owners, key=lambda pk: (pk is None, pk or 0))
        ],
        "by_source": [
            {"source": source, **_tally(*sources[source])}
            for source in sorted(sources, key=lambda s: (s is None, s or ""))
        ],
    }


# --- velocity ---------------------------------------------------------------------------------


def velocity(filters: ReportFilters) -> dict[str, Any]:
    """Sales velocity: open deals × win rate × average won value ÷ average sales cycle, the
    value the pipeline is expected to turn into won business per day.

    Win rate, average won value and cycle come from deals closed in the period; the open deals
    are those open now. The cycle of a won deal is the days from the date it was created to its
    close date; without a won deal, or when every win closed on its creation day (a 0-day
    cycle), the velocity is null.
    """
    closed = CLOSED & filters.date_range("actual_close_date")
    won = Q(is_won=True) & filters.date_range("actual_close_date")
    figures = _deals(filters).aggregate(
        open_deals=Count("id", filter=OPEN),
        closed=Count("id", filter=closed),
        won=Count("id", filter=won),
        won_with_value=Count("value", filter=won),
        won_value=Sum("value", filter=won),
        cycle=Avg(DaysBetween("actual_close_date", TruncDate("created_at")), filter=won),
    )
    rate = _rate(figures["won"], figures["closed"])
    average_value = (
        Decimal(figures["won_value"]) / figures["won_with_value"]
        if figures["won_with_value"]
        else None
    )
    cycle = figures["cycle"]
    result = None
    if rate is not None and average_value is not None and cycle:
        exact_rate = Decimal(figures["won"]) / Decimal(figures["closed"])
        result = figures["open_deals"] * exact_rate * average_value / Decimal(str(cycle))
    return {
        "open_deals": figures["open_deals"],
        "won": figures["won"],
        "closed": figures["closed"],
        "win_rate": rate,
        "average_won_value": None if average_value is None else _money(average_value),
        "average_cycle_days": _days(cycle),
        "velocity_per_day": None if result is None else _money(result),
    }


# --- forecast ---------------------------------------------------------------------------------


def _unless_won(expression: Any) -> Case:
    return Case(When(is_won=True, then=Value(None)), default=expression)


def forecast(filters: ReportFilters) -> dict[str, Any]:
    """Open value by expected close month: weighted by the stage's probability (the deal's own
    when it has no stage) and unweighted (best case); plus the value won to date.

    The period narrows the open deals by expected close date and the won deals by close date;
    deals without an expected close date are grouped under a null month, listed last.
    """
    today = filters.now.astimezone(datetime.UTC).date()
    open_in_period = OPEN & filters.date_range("expected_close_date")
    won_to_date = Q(is_won=True, actual_close_date__lte=today) & filters.date_range(
        "actual_close_date"
    )
    # Won deals make one group: their month and odds are left out (nulls), not grouped by.
    # The month is cast to a date in SQL, which loads faster than the timestamp PostgreSQL's
    # DATE_TRUNC returns (half the report's CPU on an owner's 255 groups went to those).
    rows = (
        _deals(filters)
        .filter(open_in_period | won_to_date)
        .values(
            "is_won",
            month=_unless_won(Cast(TruncMonth("expected_close_date"), DateField())),
            odds=_unless_won(Coalesce("stage__probability", "probability")),
        )
        .annotate(count=Count("id"), value=Sum("value"))
    )
    months: dict[datetime.date | None, list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
    won: list[Any] = [0, ZERO]
    for row in rows:
        value = Decimal(row["value"] or 0)
        if row["is_won"]:
            won[0] += row["count"]
            won[1] += value
            continue
        month = months[row["month"]]
        month[0] += row["count"]
        month[1] += value
        # Weighted per group of equal odds, in decimals: the same cents on every database.
        month[2] += value * Decimal(row["odds"] or 0) / HUNDRED
    order = sorted(months, key=lambda m: (m is None, m or datetime.date.min))
    return {
        "months": [
            {
                "month": None if month is None else f"{month.year}-{month.month:02d}",
                "deals": months[month][0],
                "best_case": _money(months[month][1]),
                "weighted": _money(months[month][2]),
            }
            for month in order
        ],
        "total": {
            "deals": sum(m[0] for m in months.values()),
            "best_case": _money(sum((m[1] for m in months.values()), ZERO)),
            "weighted": _money(sum((m[2] for m in months.values()), ZERO)),
        },
        "closed_won": {"deals": won[0], "value": _money(won[1])},
    }


# --- lead sources -----------------------------------------------------------------------------


def lead_sources(filters: ReportFilters) -> dict[str, Any]:
    """Leads created in the period per source: how many, how many converted, and the rate.

    Every source of the vocabulary is listed (zeros included), then any other stored value.
    """
    leads = (
        LeadSelector().visible(filters.organization_ids).filter(filters.moment_range("created_at"))
    )
    if filters.owner_id is not None:
        leads = leads.filter(assigned_to_id=filters.owner_id)
    counted = {
        row["source"]: (row["leads"], row["conversions"])
        for row in leads.order_by()
        .values("source")
        .annotate(leads=Count("id"), conversions=Count("id", filter=Q(is_converted=True)))
    }
    labels = dict(Lead.Source.choices)
    extra = sorted(source for source in counted if source not in labels)
    sources = []
    for source in [*labels, *extra]:
        total, converted = counted.get(source, (0, 0))
        sources.append(
            {
                "source": source,
                "label": labels.get(source, source),
                "leads": total,
                "conversions": converted,
                "conversion_rate": _rate(converted, total),
            }
        )
    total = sum(s["leads"] for s in sources)
    converted = sum(s["conversions"] for s in sources)
    return {
        "sources": sources,
        "total": {
            "leads": total,
            "conversions": converted,
            "conversion_rate": _rate(converted, total),
        },
    }


# --- caching of huge tenants' figures ---------------------------------------------------------


def _report_cache_key(name: str, filters: ReportFilters) -> str:
    """The report and what it covers (`now` left out: see `cached_report`), per database."""
    scope = (
        router.db_for_read(DealStageHistory),
        name,
        sorted(filters.organization_ids),
        filters.pipeline_id,
        filters.start,
        filters.end,
        filters.owner_id,
        filters.group_by,
    )
    return f"crm:report:{hashlib.sha256(repr(scope).encode()).hexdigest()}"


Report = Callable[[ReportFilters], dict[str, Any]]


def cached_report(name: str, compute: Report, size: Callable[[dict[str, Any]], int]) -> Report:
    """`compute`, whose figures are reused for a while when they sum more rows than a large
    list's exact-count cap (`counting.cached_figures`, as the deal and lead stats).

    Why: at 100k deals and 1M stage-history rows the unfiltered funnel counts distinct deals
    over every history row and time-in-stage sorts every stay for its percentiles, about 1 to
    8 s each whatever the indexes (bench/REPORTS.md). Small tenants, and narrow filters,
    stay exact and fresh: with Redis they are cached under the organizations' versions until
    the next write to any of them (`counting.tenant_version`). A huge tenant's figures may lag
    up to PAGINATION_COUNT_CACHE_SECONDS behind its writes. Either way, cached durations of
    stays still open are those of the moment the figures were computed (at most
    PAGINATION_COUNT_CACHE_SECONDS ago).
    """

    def report(filters: ReportFilters) -> dict[str, Any]:
        # Read from a replica, figures may predate a write whose version is already renewed:
        # kept under the new version they would outlive the replica's lag. So only figures
        # read from the primary are versioned.
        primary = router.db_for_read(DealStageHistory) == DEFAULT_DB_ALIAS
        return cached_figures(
            _report_cache_key(name, filters),
            lambda: compute(filters),
            size,
            versioned_by=filters.organization_ids if primary else None,
        )

    report.__doc__ = compute.__doc__
    return report


def _stays(data: dict[str, Any]) -> int:
    return sum(s[f"{kind}_deals"]["count"] for s in data["stages"] for kind in ("open", "closed"))


#: Report name (as routed) -> the selector function computing it.
REPORTS: dict[str, Report] = {
    "funnel": cached_report(
        "funnel",
        funnel,
        lambda data: sum(s["reached"] for p in data["pipelines"] for s in p["stages"]),
    ),
    "time_in_stage": cached_report("time_in_stage", time_in_stage, _stays),
    "win_rate": cached_report("win_rate", win_rate, lambda data: data["total"]["closed"]),
    "velocity": cached_report(
        "velocity", velocity, lambda data: data["open_deals"] + data["closed"]
    ),
    "forecast": cached_report(
        "forecast",
        forecast,
        lambda data: data["total"]["deals"] + data["closed_won"]["deals"],
    ),
    "lead_sources": cached_report(
        "lead_sources", lead_sources, lambda data: data["total"]["leads"]
    ),
}


def run(name: str, filters: ReportFilters) -> dict[str, Any]:
    """The report `name`, read from the replica when one may serve it (crmApp.db_routing)."""
    with reading(read_alias()):
        return REPORTS[name](filters)
