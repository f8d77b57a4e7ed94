from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.vendors import VendorFilterSet
from crmApp.models import Vendor
from crmApp.selectors.vendors import VendorSelector
from crmApp.serializers.vendors import VendorListItemSerializer, VendorSerializer
from crmApp.services import vendors as services
from crmApp.viewsets.base import OrganizationScopedViewSet


class VendorViewSet(OrganizationScopedViewSet):
    selector = VendorSelector()
    serializer_classes = {"default": VendorSerializer, "list": VendorListItemSerializer}
    filterset_class = VendorFilterSet
    search_fields = ["name", "email", "contact_person"]
    ordering_fields = ["id", "code", "name", "email", "phone", "vendor_type", "status"]

    def create_record(self, data):
        return services.vendor_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.vendor_update(vendor=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        services.vendor_delete(vendor=instance, actor=self.request.user)

    @extend_schema(
        responses={
            200: {
                "type": "array",
                "items": {"type": "string", "enum": list(Vendor.VendorType.values)},
            }
        }
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def types(self, request):
        return Response(self.selector.types(self.get_queryset()))
