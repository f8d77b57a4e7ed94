"""Deal reads: detail joins, list rows, stats, stage history and rotting deals."""

import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import (
    BooleanField,
    Count,
    DateTimeField,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.utils import timezone

from crmApp.models import Deal, DealStageHistory, PipelineStage
from crmApp.selectors.base import ResourceSelector
from crmApp.selectors.counting import cached_if_large
from crmApp.selectors.embedded import with_embedded
from crmApp.selectors.expressions import DaysBetween
from crmApp.selectors.rows import (
    Field,
    ListSpec,
    employee_name,
    iso_date,
    money,
    plain,
    serialized_datetime,
)


def deal_stats(deals: QuerySet[Deal]) -> dict:
    """The stats figures over `deals` (already scoped to the caller) in ONE query.

    One GROUP BY (stage, priority, outcome) returns a few dozen rows at most; the totals, the
    per-stage and per-priority figures are summed here (exact: decimals are summed before the
    conversion to float). It replaced an aggregate plus a per-stage GROUP BY, so the stats
    request stays within 3 queries (bench/README.md).

    `by_stage` is keyed by stage name; when stages of different pipelines share a name, each
    key becomes `"<stage> (<pipeline>)"` so their figures are not merged.
    """
    priorities = [choice for choice, _ in Deal.Priority.choices]
    groups = list(
        deals.order_by()
        .values(
            "stage_id",
            "stage__name",
            "stage__order",
            "stage__pipeline_id",
            "stage__pipeline__name",
            "priority",
            "is_won",
            "is_lost",
        )
        .annotate(count=Count("id"), value=Sum("value"), expected=Sum("expected_revenue"))
        .order_by()
    )
    zero = Decimal(0)
    stages: dict[int, dict] = {}
    for group in groups:
        if group["stage_id"] is None:
            continue
        stage = stages.setdefault(group["stage_id"], {**group, "count": 0, "value": zero})
        stage["count"] += group["count"]
        stage["value"] += group["value"] or zero
    rows = sorted(
        stages.values(),
        key=lambda row: (row["stage__pipeline_id"], row["stage__order"], row["stage_id"]),
    )
    names: dict[str, int] = {}
    for row in rows:
        names[row["stage__name"]] = names.get(row["stage__name"], 0) + 1
    by_stage: dict[str, dict] = {}
    for row in rows:
        key = row["stage__name"]
        if names[key] > 1:
            key = f"{key} ({row['stage__pipeline__name']})"
            if key in by_stage:
                key = f"{key[:-1]} #{row['stage__pipeline_id']})"
        by_stage[key] = {"count": row["count"], "value": float(row["value"])}

    def count(keep) -> int:
        return sum(group["count"] for group in groups if keep(group))

    return {
        "total_deals": count(lambda g: True),
        "total_value": float(sum((g["value"] or zero for g in groups), zero)),
        "expected_revenue": float(sum((g["expected"] or zero for g in groups), zero)),
        "won": count(lambda g: g["is_won"]),
        "lost": count(lambda g: g["is_lost"]),
        "open": count(lambda g: not g["is_won"] and not g["is_lost"]),
        "by_stage": by_stage,
        "by_priority": {p: count(lambda g, p=p: g["priority"] == p) for p in priorities},
    }


#: The detail's annotation: when the deal entered its current stage (its open history row).
STAGE_ENTERED_AT = "stage_entered_at"
SECONDS_PER_DAY = 86400


def stage_entered_at() -> Subquery:
    """The `entered_at` of the deal's open history row (at most one: a partial unique
    constraint), as a correlated subquery: no join, no extra query for the detail."""
    rows = DealStageHistory.objects.filter(deal=OuterRef("pk"), left_at__isnull=True)
    return Subquery(rows.values("entered_at")[:1], output_field=DateTimeField())


def days_in_stage(entered_at: datetime.datetime | None, now: datetime.datetime) -> int | None:
    """Whole days since the deal entered its current stage (null without a stage)."""
    if entered_at is None:
        return None
    return int((now - entered_at).total_seconds() // SECONDS_PER_DAY)


def is_rotting(deal: Deal, now: datetime.datetime) -> bool:
    """An open deal whose stage sets `rotting_days` and that has been in it longer than that.

    The same rule as `DealSelector.rotting`, which decides it in SQL."""
    entered_at = getattr(deal, STAGE_ENTERED_AT, None)
    stage = deal.stage
    if entered_at is None or stage is None or stage.rotting_days is None:
        return False
    if deal.is_won or deal.is_lost:
        return False
    return now - entered_at > datetime.timedelta(days=stage.rotting_days)


def stage_history(deal: Deal) -> QuerySet[DealStageHistory]:
    """A deal's stage history, newest first, with the stage and actor names."""
    return (
        DealStageHistory.objects.filter(deal_id=deal.pk, organization_id=deal.organization_id)
        .select_related("stage", "actor")
        .order_by("-entered_at", "-id")
    )


LIST_FIELDS: tuple[Field, ...] = (
    *plain("id", "code", "title"),
    Field("customer_name", ("customer__name",)),
    Field("value", ("value",), money),
    *plain("currency"),
    Field("stage_name", ("stage__name",)),
    Field("probability", ("probability",), money),
    Field("expected_close_date", ("expected_close_date",), iso_date),
    employee_name("assigned_to_name", "assigned_to"),
    *plain("status", "priority", "is_won", "is_lost"),
    Field("created_at", ("created_at",), serialized_datetime),
)


#: The viewset actions that change a deal's stage or outcome: their read locks the row.
TRANSITION_ACTIONS = frozenset({"move_stage", "mark_won", "mark_lost", "reopen"})
#: Set (True) on a deal read with `FOR UPDATE` by `DealSelector.locked`.
ROW_LOCKED = "row_locked"


def row_locked(deal: Deal) -> bool:
    """Whether `deal` was read under its row lock inside the current transaction."""
    return getattr(deal, ROW_LOCKED, False) is True and transaction.get_connection().in_atomic_block


class DealSelector(ResourceSelector):
    model = Deal
    fixed_detail_shapes = True
    list_rows = ListSpec(LIST_FIELDS)
    plain_actions = frozenset(
        {
            "stats",
            "export_csv",
            "bulk_update",
            "bulk_delete",
            "stage_history",
            "rotting",
            "timeline",
        }
    )

    def for_action(self, queryset: QuerySet, action: str | None) -> QuerySet:
        shaped = super().for_action(queryset, action)
        return self.locked(shaped) if action in TRANSITION_ACTIONS else shaped

    def locked(self, queryset: QuerySet) -> QuerySet:
        """The deals read with their row lock (`FOR UPDATE OF deals`), marked `row_locked`.

        A transition reads the deal with the detail's joins to answer with it; locking that
        read saves the service its own locking read (one statement of a move). The mark tells
        the service the row is locked and current; it holds only inside the transaction that
        read it (every write request is one), see `row_locked`.
        """
        return queryset.select_for_update(of=("self",)).annotate(
            **{ROW_LOCKED: Value(True, output_field=BooleanField())}
        )

    def detail(self, queryset: QuerySet) -> QuerySet:
        """The deal with its customer, assignee, pipeline and stage joined, and the pipeline's
        stages (which the detail lists) read inside the same query (`with_embedded`)."""
        joined = queryset.select_related(
            "customer__assigned_to", "pipeline", "stage", "assigned_to__manager"
        ).annotate(**{STAGE_ENTERED_AT: stage_entered_at()})
        return with_embedded(
            joined,
            path=("pipeline",),
            relation="stages",
            model=PipelineStage,
            parent_key="pipeline_id",
            outer_key="pipeline_id",
            ordering=("order", "id"),
        )

    def rotting(
        self, queryset: QuerySet[Deal], *, now: datetime.datetime | None = None
    ) -> tuple[QuerySet, ListSpec]:
        """Open deals in their current stage longer than its `rotting_days`, oldest first: the
        rows to page over and the spec that renders them (`rotting_rows`).

        The open history row is joined (one per deal, so no duplicates) and the age compared in
        SQL, so the page and its count are one query each whatever the tenant's size.
        """
        now = now or timezone.now()
        rows = (
            queryset.filter(
                is_won=False,
                is_lost=False,
                stage__rotting_days__isnull=False,
                stage_history__left_at__isnull=True,
            )
            .annotate(
                **{STAGE_ENTERED_AT: F("stage_history__entered_at")},
                age=DaysBetween(
                    Value(now, output_field=DateTimeField()), F("stage_history__entered_at")
                ),
            )
            .filter(age__gt=F("stage__rotting_days"))
            .order_by(STAGE_ENTERED_AT, "id")
        )
        spec = rotting_rows(now)
        return spec.rows(rows), spec

    def stats(self, queryset: QuerySet[Deal]) -> dict:
        """`deal_stats`, reused for a while on huge tenants (see `cached_if_large`)."""
        return cached_if_large(
            queryset, "stats", deal_stats, lambda figures: figures["total_deals"]
        )


def rotting_rows(now: datetime.datetime) -> ListSpec:
    """The list row of a deal plus its stage's rotting limit and how long it has been there."""
    return ListSpec(
        [
            *LIST_FIELDS,
            Field("rotting_days", ("stage__rotting_days",)),
            Field("stage_entered_at", (STAGE_ENTERED_AT,), serialized_datetime),
            Field(
                "days_in_stage",
                (STAGE_ENTERED_AT,),
                lambda entered_at: days_in_stage(entered_at, now),
            ),
        ]
    )
