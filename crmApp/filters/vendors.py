import django_filters

from crmApp.filters.base import StrictFilterSet
from crmApp.models import Vendor
from crmApp.models.base import ActiveStatus


class VendorFilterSet(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=ActiveStatus.choices)
    vendor_type = django_filters.ChoiceFilter(choices=Vendor.VendorType.choices)

    class Meta:
        model = Vendor
        fields = ["status", "vendor_type"]
