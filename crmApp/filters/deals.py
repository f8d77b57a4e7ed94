import django_filters

from crmApp.filters.base import IdFilter, StrictBooleanFilter, StrictFilterSet
from crmApp.models import Deal


class DealFilterSet(StrictFilterSet):
    external_id = django_filters.CharFilter(field_name="external_id", max_length=255)
    status = django_filters.ChoiceFilter(choices=Deal.Status.choices)
    priority = django_filters.ChoiceFilter(choices=Deal.Priority.choices)
    pipeline = IdFilter(field_name="pipeline_id")
    stage = IdFilter(field_name="stage_id")
    customer = IdFilter(field_name="customer_id")
    assigned_to = IdFilter(field_name="assigned_to_id")
    is_won = StrictBooleanFilter(field_name="is_won")
    is_lost = StrictBooleanFilter(field_name="is_lost")
    close_after = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="gte")
    close_before = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="lte")
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Deal
        fields = [
            "external_id",
            "status",
            "priority",
            "pipeline",
            "stage",
            "customer",
            "assigned_to",
            "is_won",
            "is_lost",
            "close_after",
            "close_before",
            "created_after",
            "created_before",
        ]
