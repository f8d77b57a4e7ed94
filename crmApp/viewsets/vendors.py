from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.vendors import VendorFilterSet
from crmApp.models import Vendor
from crmApp.serializers.vendors import VendorListItemSerializer, VendorSerializer
from crmApp.viewsets.base import OrganizationScopedViewSet

#: Upper bound of the unpaginated `types` array (contract C5).
MAX_TYPES = 100


class VendorViewSet(OrganizationScopedViewSet):
    queryset = Vendor.objects.all()
    serializer_classes = {"default": VendorSerializer, "list": VendorListItemSerializer}
    filterset_class = VendorFilterSet
    search_fields = ["name", "email", "contact_person"]
    ordering_fields = ["id", "code", "name", "email", "phone", "vendor_type", "status"]

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
        types = (
            self.get_queryset()
            .order_by("vendor_type")
            .values_list("vendor_type", flat=True)
            .distinct()[:MAX_TYPES]
        )
        return Response(list(types))
