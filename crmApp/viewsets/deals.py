from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.deals import DealFilterSet
from crmApp.models import Deal
from crmApp.selectors.deals import DealSelector, stage_history
from crmApp.serializers.actions import DealMarkLostSerializer, StageMoveSerializer
from crmApp.serializers.deals import (
    DealListSerializer,
    DealRottingPageSerializer,
    DealSerializer,
    DealStageHistoryPageSerializer,
    DealStageHistorySerializer,
)
from crmApp.serializers.schema import DealMessageSerializer, DealStatsSerializer, StageIdSerializer
from crmApp.services import deals as services
from crmApp.viewsets.base import OrganizationScopedViewSet
from crmApp.viewsets.bulk import BulkActionsMixin
from crmApp.viewsets.timeline import TimelineMixin
from crmApp.viewsets.upsert import ExternalIdUpsertMixin, upsert_schema


@extend_schema_view(upsert=upsert_schema(DealSerializer))
class DealViewSet(
    TimelineMixin, ExternalIdUpsertMixin, BulkActionsMixin, OrganizationScopedViewSet
):
    selector = DealSelector()
    serializer_classes = {"default": DealSerializer, "list": DealListSerializer}
    filterset_class = DealFilterSet
    search_fields = ["title", "customer__name"]
    ordering_fields = [
        "id",
        "code",
        "title",
        "customer__name",
        "value",
        "currency",
        "stage__name",
        "probability",
        "expected_close_date",
        "status",
        "priority",
        "is_won",
        "is_lost",
        "created_at",
    ]
    ordering_aliases = {"customer_name": "customer__name", "stage_name": "stage__name"}
    bulk_update_fields = (
        "priority",
        "assigned_to_id",
        "expected_close_date",
        "tags",
        "source",
        "currency",
    )

    def create_record(self, data):
        return services.deal_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.deal_update(deal=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        services.deal_delete(deal=instance, actor=self.request.user)

    def destroy_records(self, ids):
        return services.deal_delete_many(ids=ids, actor=self.request.user)

    def _answer(self, message: str, deal: Deal) -> Response:
        # The service returns the locked row with the relations `get_object` loaded, so
        # detail_data serializes it without reading it again.
        return Response({"message": message, "deal": self.detail_data(deal, as_written=True)})

    @extend_schema(responses=DealStatsSerializer)
    @action(detail=False, methods=["get"])
    def stats(self, request):
        return Response(self.selector.stats(self.get_queryset()))

    @extend_schema(request=None, responses=DealStageHistoryPageSerializer)
    @action(detail=True, methods=["get"])
    def stage_history(self, request, pk=None):
        """The stages the deal entered, newest first (paginated)."""
        page = self.paginate_queryset(stage_history(self.get_object()))
        rows = DealStageHistorySerializer(page, many=True).data
        return self.get_paginated_response(rows)

    @extend_schema(request=None, responses=DealRottingPageSerializer)
    @action(detail=False, methods=["get"])
    def rotting(self, request):
        """Open deals longer in their stage than its `rotting_days`, oldest first (paginated)."""
        rows, spec = self.selector.rotting(self.get_queryset())
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(spec.render(page))

    @extend_schema(request=StageIdSerializer, responses=DealMessageSerializer)
    @action(detail=True, methods=["post"])
    def move_stage(self, request, pk=None):
        deal = self.get_object()
        form = StageMoveSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        deal = services.deal_move_stage(
            deal=deal, stage_id=form.validated_data["stage_id"], actor=request.user
        )
        return self._answer("Deal moved to new stage.", deal)

    @extend_schema(request=None, responses=DealMessageSerializer)
    @action(detail=True, methods=["post"])
    def mark_won(self, request, pk=None):
        deal = services.deal_mark_won(deal=self.get_object(), actor=request.user)
        return self._answer("Deal marked as won.", deal)

    @extend_schema(request=DealMarkLostSerializer, responses=DealMessageSerializer)
    @action(detail=True, methods=["post"])
    def mark_lost(self, request, pk=None):
        deal = self.get_object()
        form = DealMarkLostSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        deal = services.deal_mark_lost(
            deal=deal, lost_reason=form.validated_data.get("lost_reason"), actor=request.user
        )
        return self._answer("Deal marked as lost.", deal)

    @extend_schema(request=None, responses=DealMessageSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        deal = services.deal_reopen(deal=self.get_object(), actor=request.user)
        return self._answer("Deal reopened.", deal)
