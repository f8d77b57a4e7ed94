"""Pipeline and stage reads."""

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from crmApp.models import Pipeline, PipelineStage
from crmApp.selectors.base import ResourceSelector


def ordered_stages() -> Prefetch:
    return Prefetch("stages", queryset=PipelineStage.objects.order_by("order", "id"))


def stage_count() -> Coalesce:
    """A correlated count: no join or GROUP BY on the page query, and dropped from its COUNT."""
    counts = (
        PipelineStage.objects.filter(pipeline=OuterRef("pk"))
        .order_by()
        .values("pipeline")
        .annotate(total=Count("id"))
        .values("total")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


class PipelineSelector(ResourceSelector):
    model = Pipeline

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.annotate(stage_count=stage_count()).prefetch_related(ordered_stages())


class PipelineStageSelector(ResourceSelector):
    model = PipelineStage

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("pipeline")
