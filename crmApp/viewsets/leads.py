from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.leads import LeadFilterSet
from crmApp.models import Customer, Employee, Lead
from crmApp.pagination import cached_if_large
from crmApp.serializers.base import ScopedRelatedField
from crmApp.serializers.leads import LeadListSerializer, LeadSerializer
from crmApp.serializers.schema import (
    LeadConvertedSerializer,
    LeadMessageSerializer,
    LeadStatsSerializer,
)
from crmApp.services.leads import lead_convert, lead_disqualify, lead_qualify, lead_stats
from crmApp.viewsets.base import OrganizationScopedViewSet
from crmApp.viewsets.bulk import BulkActionsMixin


class LeadConvertSerializer(serializers.Serializer):
    customer_type = serializers.ChoiceField(
        choices=Customer.CustomerType.choices, default=Customer.CustomerType.BUSINESS
    )
    assigned_to_id = ScopedRelatedField(
        source="assigned_to", queryset=Employee.objects.all(), required=False, allow_null=True
    )

    def validate(self, attrs):
        employee = attrs.get("assigned_to")
        lead = self.context["lead"]
        if employee is not None and employee.organization_id != lead.organization_id:
            field = self.fields["assigned_to_id"]
            raise serializers.ValidationError(
                {
                    "assigned_to_id": [
                        field.error_messages["does_not_exist"].format(pk_value=employee.pk)
                    ]
                }
            )
        return attrs


class LeadViewSet(BulkActionsMixin, OrganizationScopedViewSet):
    queryset = Lead.objects.all()
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

    def scope_queryset(self, queryset):
        if self.action == "list":
            return queryset.select_related("assigned_to")
        if self.action in ("stats", "export_csv", "bulk_delete"):
            return queryset
        return queryset.select_related("assigned_to__manager", "converted_by")

    @extend_schema(responses=LeadStatsSerializer)
    @action(detail=False, methods=["get"])
    def stats(self, request):
        # Huge tenants: figures reused up to PAGINATION_COUNT_CACHE_SECONDS (bench/README.md).
        stats = cached_if_large(
            self.get_queryset(), "stats", lambda qs: lead_stats(queryset=qs), lambda r: r["total"]
        )
        return Response(stats)

    @extend_schema(request=None, responses=LeadMessageSerializer)
    @action(detail=True, methods=["post"])
    def qualify(self, request, pk=None):
        lead = lead_qualify(lead=self.get_object(), actor=request.user)
        return Response({"message": "Lead qualified successfully.", "lead": self.detail_data(lead)})

    @extend_schema(request=None, responses=LeadMessageSerializer)
    @action(detail=True, methods=["post"])
    def disqualify(self, request, pk=None):
        lead = lead_disqualify(lead=self.get_object(), actor=request.user)
        return Response({"message": "Lead disqualified.", "lead": self.detail_data(lead)})

    @extend_schema(request=LeadConvertSerializer, responses={201: LeadConvertedSerializer})
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        lead = self.get_object()
        form = LeadConvertSerializer(
            data=request.data, context={**self.get_serializer_context(), "lead": lead}
        )
        form.is_valid(raise_exception=True)
        customer = lead_convert(
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
