"""Event and audit list filters: exact type or action, resource and record, and a time window."""

import django_filters
from rest_framework.exceptions import ValidationError

from crmApp.filters.base import IdFilter, StrictFilterBackend, StrictFilterSet, UTCDateTimeFilter
from crmApp.models import AuditEvent, Event
from crmApp.models.events import EVENT_RESOURCES, EVENT_TYPES

#: Query parameters the event list understands besides its filters (cursor pagination).
EVENT_LIST_PARAMS = frozenset({"cursor", "page_size", "format", "organization"})


class EventFilterSet(StrictFilterSet):
    type = django_filters.ChoiceFilter(choices=[(t, t) for t in EVENT_TYPES])
    resource = django_filters.ChoiceFilter(choices=[(r, r) for r in EVENT_RESOURCES])
    resource_id = IdFilter()
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["type", "resource", "resource_id", "created_after", "created_before"]


class EventFilterBackend(StrictFilterBackend):
    """The strict backend with the cursor pagination's parameters instead of page numbers,
    search and ordering (the event and audit lists have one fixed order)."""

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        known = EVENT_LIST_PARAMS | set(view.filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        if not set(request.query_params) - EVENT_LIST_PARAMS:
            return queryset
        return super(StrictFilterBackend, self).filter_queryset(request, queryset, view)


class AuditEventFilterSet(StrictFilterSet):
    resource = django_filters.CharFilter(max_length=32)
    record_id = IdFilter()
    actor = IdFilter(field_name="actor_id")
    action = django_filters.CharFilter(max_length=32)
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["resource", "record_id", "actor", "action", "created_after", "created_before"]
