from collections.abc import Mapping

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.pipelines import PipelineFilterSet, PipelineStageFilterSet
from crmApp.selectors.pipelines import PipelineSelector, PipelineStageSelector
from crmApp.serializers.actions import StageDeleteSerializer, StageReorderSerializer
from crmApp.serializers.pipelines import PipelineSerializer, PipelineStageSerializer
from crmApp.serializers.schema import (
    PipelineMessageSerializer,
    StageMessageSerializer,
    StageOrderSerializer,
)
from crmApp.services import pipelines as services
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
    "rotting_days",
    "created_at",
]


class PipelineViewSet(OrganizationScopedViewSet):
    selector = PipelineSelector()
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

    def create_record(self, data):
        return services.pipeline_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.pipeline_update(pipeline=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        services.pipeline_delete(pipeline=instance, actor=self.request.user)

    @extend_schema(request=None, responses=PipelineMessageSerializer)
    @action(detail=True, methods=["post"])
    def set_default(self, request, pk=None):
        pipeline = services.pipeline_set_default(pipeline=self.get_object(), actor=request.user)
        return Response(
            {"message": "Pipeline set as default.", "pipeline": self.detail_data(pipeline)}
        )


class PipelineStageViewSet(OrganizationScopedViewSet):
    """Stages belong to an organization through their pipeline."""

    selector = PipelineStageSelector()
    serializer_classes = {"default": PipelineStageSerializer}
    filterset_class = PipelineStageFilterSet
    ordering = ("order", "id")
    ordering_fields = STAGE_FIELDS

    def create_record(self, data):
        return services.stage_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.stage_update(stage=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        body = self.request.data if isinstance(self.request.data, Mapping) else {}
        form = StageDeleteSerializer(data={**body, **self.request.query_params.dict()})
        form.is_valid(raise_exception=True)
        services.stage_delete(
            stage=instance, actor=self.request.user, move_to=form.validated_data.get("move_to")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "move_to",
                int,
                description=(
                    "A stage of the same pipeline that receives this stage's deals; required "
                    "when the stage holds deals (409 without it)."
                ),
            )
        ],
        responses={204: None},
    )
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    @extend_schema(request=StageOrderSerializer, responses=StageMessageSerializer)
    @action(detail=True, methods=["post"])
    def reorder(self, request, pk=None):
        stage = self.get_object()
        form = StageReorderSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        stage = services.stage_move(
            stage=stage, order=form.validated_data["order"], actor=request.user
        )
        return Response(
            {"message": "Stage reordered successfully.", "stage": self.detail_data(stage)}
        )
