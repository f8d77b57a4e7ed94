from django.db.models import Count, IntegerField, OuterRef, Prefetch, Subquery, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.exceptions import error_response
from crmApp.filters.pipelines import PipelineFilterSet, PipelineStageFilterSet
from crmApp.models import Pipeline, PipelineStage
from crmApp.serializers.pipelines import PipelineSerializer, PipelineStageSerializer
from crmApp.serializers.schema import (
    PipelineMessageSerializer,
    StageMessageSerializer,
    StageOrderSerializer,
)
from crmApp.services.pipelines import pipeline_set_default, stage_delete, stage_move
from crmApp.viewsets.base import OrganizationScopedViewSet

STAGE_FIELDS = [
    "id",
    "pipeline",
    "name",
    "description",
    "order",
    "probability",
    "is_active",
    "is_closed_won",
    "is_closed_lost",
    "auto_move_after_days",
    "created_at",
]


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


class PipelineViewSet(OrganizationScopedViewSet):
    queryset = Pipeline.objects.all()
    serializer_classes = {"default": PipelineSerializer}
    filterset_class = PipelineFilterSet
    ordering_fields = [
        "id",
        "organization",
        "code",
        "name",
        "description",
        "is_active",
        "is_default",
        "created_at",
        "updated_at",
    ]

    def scope_queryset(self, queryset):
        return queryset.annotate(stage_count=stage_count()).prefetch_related(ordered_stages())

    @extend_schema(request=None, responses=PipelineMessageSerializer)
    @action(detail=True, methods=["post"])
    def set_default(self, request, pk=None):
        pipeline = pipeline_set_default(pipeline=self.get_object())
        return Response(
            {"message": "Pipeline set as default.", "pipeline": self.detail_data(pipeline)}
        )


class PipelineStageViewSet(OrganizationScopedViewSet):
    """Stages belong to an organization through their pipeline."""

    queryset = PipelineStage.objects.all()
    organization_lookup = "pipeline__organization_id"
    serializer_classes = {"default": PipelineStageSerializer}
    filterset_class = PipelineStageFilterSet
    ordering = ("order", "id")
    ordering_fields = STAGE_FIELDS

    def scope_queryset(self, queryset):
        return queryset.select_related("pipeline")

    def perform_create(self, serializer):
        self.check_organization_write(serializer.validated_data["pipeline"].organization_id)
        serializer.save()

    def perform_destroy(self, instance):
        stage_delete(stage=instance)

    @extend_schema(request=StageOrderSerializer, responses=StageMessageSerializer)
    @action(detail=True, methods=["post"])
    def reorder(self, request, pk=None):
        stage = self.get_object()
        body = request.data if isinstance(request.data, dict) else {}
        raw = body.get("order")
        if raw is None or raw == "":
            return error_response("order is required", 400)
        try:
            order = serializers.IntegerField().run_validation(raw)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"order": exc.detail}) from None
        stage = stage_move(stage=stage, order=order)
        return Response(
            {"message": "Stage reordered successfully.", "stage": self.detail_data(stage)}
        )
