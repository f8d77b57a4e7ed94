from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.exceptions import error_response
from crmApp.filters.deals import DealFilterSet
from crmApp.models import Deal, PipelineStage
from crmApp.pagination import cached_if_large
from crmApp.serializers.deals import DealListSerializer, DealMarkLostSerializer, DealSerializer
from crmApp.serializers.schema import DealMessageSerializer, DealStatsSerializer, StageIdSerializer
from crmApp.services import deals as services
from crmApp.viewsets.base import OrganizationScopedViewSet, parse_id
from crmApp.viewsets.bulk import BulkActionsMixin

#: Actions that read or write rows without serializing their relations.
PLAIN_ACTIONS = frozenset({"stats", "export_csv", "bulk_update", "bulk_delete"})


class DealViewSet(BulkActionsMixin, OrganizationScopedViewSet):
    queryset = Deal.objects.all()
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

    def scope_queryset(self, queryset):
        if self.action == "list":
            return queryset.select_related("customer", "stage", "assigned_to")
        if self.action in PLAIN_ACTIONS:
            return queryset
        return queryset.select_related(
            "customer__assigned_to", "pipeline", "stage", "assigned_to__manager"
        ).prefetch_related(
            Prefetch("pipeline__stages", queryset=PipelineStage.objects.order_by("order", "id"))
        )

    def _answer(self, message: str, deal: Deal) -> Response:
        # The service returns the locked row with the relations `get_object` loaded, so
        # detail_data serializes it without reading it again.
        return Response({"message": message, "deal": self.detail_data(deal, as_written=True)})

    @extend_schema(responses=DealStatsSerializer)
    @action(detail=False, methods=["get"])
    def stats(self, request):
        # Huge tenants: figures reused up to PAGINATION_COUNT_CACHE_SECONDS (bench/README.md).
        stats = cached_if_large(
            self.get_queryset(),
            "stats",
            lambda qs: services.deal_stats(deals=qs),
            lambda r: r["total_deals"],
        )
        return Response(stats)

    @extend_schema(request=StageIdSerializer, responses=DealMessageSerializer)
    @action(detail=True, methods=["post"])
    def move_stage(self, request, pk=None):
        deal = self.get_object()
        body = request.data if isinstance(request.data, dict) else {}
        raw = body.get("stage_id")
        if raw is None or raw == "":
            return error_response("stage_id is required", 400)
        stage_id = parse_id(raw, field="stage_id")
        deal = services.deal_move_stage(deal=deal, stage_id=stage_id, actor=request.user)
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
        form = DealMarkLostSerializer(data=request.data if isinstance(request.data, dict) else {})
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
