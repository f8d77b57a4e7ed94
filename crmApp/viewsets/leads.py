from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.leads import LeadFilterSet
from crmApp.selectors.leads import LeadSelector
from crmApp.serializers.actions import LeadConvertSerializer
from crmApp.serializers.leads import LeadListSerializer, LeadSerializer
from crmApp.serializers.schema import (
    LeadConvertedSerializer,
    LeadMessageSerializer,
    LeadStatsSerializer,
)
from crmApp.services import leads as services
from crmApp.viewsets.base import OrganizationScopedViewSet
from crmApp.viewsets.bulk import BulkActionsMixin
from crmApp.viewsets.timeline import TimelineMixin
from crmApp.viewsets.upsert import ExternalIdUpsertMixin, upsert_schema


@extend_schema_view(upsert=upsert_schema(LeadSerializer))
class LeadViewSet(
    TimelineMixin, ExternalIdUpsertMixin, BulkActionsMixin, OrganizationScopedViewSet
):
    selector = LeadSelector()
    serializer_classes = {"default": LeadSerializer, "list": LeadListSerializer}
    filterset_class = LeadFilterSet
    search_fields = ["name", "email", "company"]
    ordering_fields = [
        "id",
        "code",
        "name",
        "email",
        "phone",
        "company",
        "job_title",
        "status",
        "source",
        "qualification_status",
        "lead_score",
        "estimated_value",
        "is_converted",
        "created_at",
    ]
    ordering_aliases = {"score": "lead_score"}
    bulk_update_fields = (
        "status",
        "qualification_status",
        "source",
        "assigned_to_id",
        "lead_score",
        "tags",
    )

    def create_record(self, data):
        return services.lead_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.lead_update(lead=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        services.lead_delete(lead=instance, actor=self.request.user)

    def destroy_records(self, ids):
        return services.lead_delete_many(ids=ids, actor=self.request.user)

    @extend_schema(responses=LeadStatsSerializer)
    @action(detail=False, methods=["get"])
    def stats(self, request):
        return Response(self.selector.stats(self.get_queryset()))

    @extend_schema(request=None, responses=LeadMessageSerializer)
    @action(detail=True, methods=["post"])
    def qualify(self, request, pk=None):
        lead = services.lead_qualify(lead=self.get_object(), actor=request.user)
        return Response({"message": "Lead qualified successfully.", "lead": self.detail_data(lead)})

    @extend_schema(request=None, responses=LeadMessageSerializer)
    @action(detail=True, methods=["post"])
    def disqualify(self, request, pk=None):
        lead = services.lead_disqualify(lead=self.get_object(), actor=request.user)
        return Response({"message": "Lead disqualified.", "lead": self.detail_data(lead)})

    @extend_schema(request=LeadConvertSerializer, responses={201: LeadConvertedSerializer})
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        lead = self.get_object()
        form = LeadConvertSerializer(
            data=request.data, context={**self.get_serializer_context(), "lead": lead}
        )
        form.is_valid(raise_exception=True)
        customer = services.lead_convert(
            lead=lead,
            actor=request.user,
            customer_type=form.validated_data["customer_type"],
            assigned_to=form.validated_data.get("assigned_to"),
        )
        return Response(
            {
                "message": "Lead converted successfully.",
                "customer_id": customer.pk,
                "lead": self.detail_data(lead),
            },
            status=status.HTTP_201_CREATED,
        )
