"""Activity list filters: type, related record, assignee, due window, overdue and completed."""

import django_filters
from django.db.models import Q
from django.utils import timezone

from crmApp.filters.base import IdFilter, StrictBooleanFilter, StrictFilterSet, UTCDateTimeFilter
from crmApp.models import Activity


class ActivityFilterSet(StrictFilterSet):
    type = django_filters.ChoiceFilter(choices=Activity.Type.choices)
    customer = IdFilter(field_name="customer_id")
    lead = IdFilter(field_name="lead_id")
    deal = IdFilter(field_name="deal_id")
    assignee = IdFilter(field_name="assignee_id")
    due_after = UTCDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = UTCDateTimeFilter(field_name="due_at", lookup_expr="lt")
    overdue = StrictBooleanFilter(method="filter_overdue")
    completed = StrictBooleanFilter(method="filter_completed")

    class Meta:
        model = Activity
        fields = [
            "type",
            "customer",
            "lead",
            "deal",
            "assignee",
            "due_after",
            "due_before",
            "overdue",
            "completed",
        ]

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        overdue = Q(completed_at__isnull=True, due_at__lt=timezone.now())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def filter_completed(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(completed_at__isnull=not value)
