"""Deal reads: detail joins, list rows, stats."""

from decimal import Decimal

from django.db.models import Count, Prefetch, QuerySet, Sum

from crmApp.models import Deal, PipelineStage
from crmApp.selectors.base import ResourceSelector
from crmApp.selectors.counting import cached_if_large
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


class DealSelector(ResourceSelector):
    model = Deal
    list_rows = ListSpec(
        [
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
        ]
    )
    plain_actions = frozenset({"stats", "export_csv", "bulk_update", "bulk_delete"})

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related(
            "customer__assigned_to", "pipeline", "stage", "assigned_to__manager"
        ).prefetch_related(
            Prefetch("pipeline__stages", queryset=PipelineStage.objects.order_by("order", "id"))
        )

    def stats(self, queryset: QuerySet[Deal]) -> dict:
        """`deal_stats`, reused for a while on huge tenants (see `cached_if_large`)."""
        return cached_if_large(
            queryset, "stats", deal_stats, lambda figures: figures["total_deals"]
        )
