import django_filters

from crmApp.filters.base import IdFilter, StrictFilterSet
from crmApp.models import Customer
from crmApp.models.base import ActiveStatus


class CustomerFilterSet(StrictFilterSet):
    external_id = django_filters.CharFilter(field_name="external_id", max_length=255)
    status = django_filters.ChoiceFilter(choices=ActiveStatus.choices)
    customer_type = django_filters.ChoiceFilter(choices=Customer.CustomerType.choices)
    assigned_to = IdFilter(field_name="assigned_to_id")
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Customer
        fields = [
            "external_id",
            "status",
            "customer_type",
            "assigned_to",
            "created_after",
            "created_before",
        ]
