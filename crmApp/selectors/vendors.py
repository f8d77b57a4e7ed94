"""Vendor reads."""

from django.db.models import QuerySet

from crmApp.models import Vendor
from crmApp.selectors.base import ResourceSelector

#: Upper bound of the unpaginated `types` array.
MAX_TYPES = 100


class VendorSelector(ResourceSelector):
    model = Vendor

    def types(self, queryset: QuerySet[Vendor]) -> list[str]:
        """The vendor types in use, alphabetically."""
        types = queryset.order_by("vendor_type").values_list("vendor_type", flat=True).distinct()
        return list(types[:MAX_TYPES])
