from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.customers import CustomerFilterSet
from crmApp.models.base import ActiveStatus
from crmApp.selectors.customers import CustomerSelector
from crmApp.serializers.customers import CustomerListSerializer, CustomerSerializer
from crmApp.serializers.schema import CustomerMessageSerializer, CustomerStatsSerializer
from crmApp.services import customers as services
from crmApp.viewsets.base import OrganizationScopedViewSet
from crmApp.viewsets.bulk import BulkActionsMixin
from crmApp.viewsets.timeline import TimelineMixin
from crmApp.viewsets.upsert import ExternalIdUpsertMixin, upsert_schema


@extend_schema_view(upsert=upsert_schema(CustomerSerializer))
class CustomerViewSet(
    TimelineMixin, ExternalIdUpsertMixin, BulkActionsMixin, OrganizationScopedViewSet
):
    selector = CustomerSelector()
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

    def create_record(self, data):
        return services.customer_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.customer_update(customer=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        services.customer_delete(customer=instance, actor=self.request.user)

    def destroy_records(self, ids):
        return services.customer_delete_many(ids=ids, actor=self.request.user)

    @extend_schema(responses=CustomerStatsSerializer)
    @action(detail=False, methods=["get"])
    def stats(self, request):
        return Response(self.selector.stats(self.get_queryset()))

    @extend_schema(request=None, responses=CustomerMessageSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        customer = services.customer_set_status(
            customer=self.get_object(), status=ActiveStatus.ACTIVE, actor=request.user
        )
        return Response(
            {"message": "Customer activated successfully.", "customer": self.detail_data(customer)}
        )

    @extend_schema(request=None, responses=CustomerMessageSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        customer = services.customer_set_status(
            customer=self.get_object(), status=ActiveStatus.INACTIVE, actor=request.user
        )
        return Response(
            {
                "message": "Customer deactivated successfully.",
                "customer": self.detail_data(customer),
            }
        )
