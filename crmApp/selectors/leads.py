"""Lead reads: detail joins, list rows, stats."""

from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Q, QuerySet

from crmApp.models import Lead
from crmApp.models.base import ActiveStatus
from crmApp.selectors.base import ResourceSelector
from crmApp.selectors.counting import cached_if_large
from crmApp.selectors.rows import Field, ListSpec, employee_name, money, plain, serialized_datetime

#: qualification_status values counted in the stats (`converted` and `lost` added to the four
#: of the reference, which are always present).
STATS_QUALIFICATIONS = ("new", "contacted", "qualified", "unqualified", "converted", "lost")


def lead_stats(queryset: QuerySet[Lead]) -> dict:
    """Counts over an already scoped queryset in ONE query: conditional counts per source
    (only sources present appear), summed here for the totals. One GROUP BY instead of
    an aggregate plus a GROUP BY keeps the stats request within 3 queries (bench/README.md)."""
    # Mappings, not the plugin's row TypedDict: the `q_*` keys are built from a loop, and the
    # totals below look keys up by name.
    rows: list[Mapping[str, Any]] = list(
        queryset.order_by()
        .values("source")
        .annotate(
            total=Count("id"),
            active=Count("id", filter=Q(status=ActiveStatus.ACTIVE)),
            converted=Count("id", filter=Q(is_converted=True)),
            unconverted=Count("id", filter=Q(is_converted=False)),
            **{
                f"q_{name}": Count("id", filter=Q(qualification_status=name))
                for name in STATS_QUALIFICATIONS
            },
        )
        .order_by("source")
    )

    def total(key: str) -> int:
        return sum(row[key] for row in rows)

    return {
        "total": total("total"),
        "active": total("active"),
        "converted": total("converted"),
        "unconverted": total("unconverted"),
        "by_qualification": {name: total(f"q_{name}") for name in STATS_QUALIFICATIONS},
        "by_source": {row["source"]: row["total"] for row in rows},
    }


class LeadSelector(ResourceSelector):
    model = Lead
    fixed_detail_shapes = True
    list_rows = ListSpec(
        [
            *plain("id", "code", "name", "email", "phone", "company", "job_title", "status"),
            *plain("source", "qualification_status", "lead_score"),
            Field("estimated_value", ("estimated_value",), money),
            employee_name("assigned_to_name", "assigned_to"),
            *plain("is_converted"),
            Field("created_at", ("created_at",), serialized_datetime),
        ]
    )
    plain_actions = frozenset({"stats", "export_csv", "bulk_update", "bulk_delete", "timeline"})

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("assigned_to__manager", "converted_by")

    def stats(self, queryset: QuerySet[Lead]) -> dict:
        """`lead_stats`, reused for a while on huge tenants (see `cached_if_large`)."""
        return cached_if_large(queryset, "stats", lead_stats, lambda figures: figures["total"])
