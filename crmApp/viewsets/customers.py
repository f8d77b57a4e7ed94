from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.customers import CustomerFilterSet
from crmApp.models import Customer
from crmApp.models.base import ActiveStatus
from crmApp.serializers.customers import CustomerListSerializer, CustomerSerializer
from crmApp.serializers.schema import CustomerMessageSerializer, CustomerStatsSerializer
from crmApp.services.customers import customer_set_status, customer_stats
from crmApp.viewsets.base import OrganizationScopedViewSet
from crmApp.viewsets.bulk import BulkActionsMixin


class CustomerViewSet(BulkActionsMixin, OrganizationScopedViewSet):
    queryset = Customer.objects.all()
    serializer_classes = {"default": CustomerSerializer, "list": CustomerListSerializer}
    filterset_class = CustomerFilterSet
    search_fields = ["name", "email", "company_name"]
    ordering_fields = ["id", "code", "name", "email", "phone", "customer_type", "status"]
    bulk_update_fields = (
        "status",
        "customer_type",
        "assigned_to_id",
        "industry",
        "source",
        "tags",
        "payment_terms",
    )

    def scope_queryset(self, queryset):
        if self.action == "list":
            # Only the list item's columns: 8 instead of 56 per row (measured 9.3 -> 6.8 ms for
            # a page of 50 in bench/); the list serializer reads nothing else.
            return queryset.select_related("assigned_to").only(
                *("id", "code", "name", "email", "phone", "customer_type", "status"),
                *("assigned_to__first_name", "assigned_to__last_name"),
            )
        if self.action in ("stats", "export_csv", "bulk_delete"):
            return queryset
        return queryset.select_related("assigned_to__manager", "converted_from_lead")

    @extend_schema(responses=CustomerStatsSerializer)
    @action(detail=False, methods=["get"])
    def stats(self, request):
        return Response(customer_stats(queryset=self.get_queryset()))

    @extend_schema(request=None, responses=CustomerMessageSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        customer = customer_set_status(
            customer=self.get_object(), status=ActiveStatus.ACTIVE, actor=request.user
        )
        return Response(
            {"message": "Customer activated successfully.", "customer": self.detail_data(customer)}
        )

    @extend_schema(request=None, responses=CustomerMessageSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        customer = customer_set_status(
            customer=self.get_object(), status=ActiveStatus.INACTIVE, actor=request.user
        )
        return Response(
            {
                "message": "Customer deactivated successfully.",
                "customer": self.detail_data(customer),
            }
        )
