"""`/api/audit-events/`: who changed which record and when (read-only, `audit:view`)."""

from rest_framework import mixins, viewsets

from crmApp.filters.events import AuditEventFilterSet, EventFilterBackend
from crmApp.selectors.audit import AuditEventSelector
from crmApp.serializers.audit import AuditEventSerializer
from crmApp.viewsets.base import OrganizationScopedMixin
from crmApp.viewsets.events import EventCursorPagination


class AuditEventViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Newest first, cursor pages over (created_at, id) like the event list."""

    selector = AuditEventSelector()
    serializer_class = AuditEventSerializer
    #: The list is rendered from rows (`AuditEventSelector.list_rows`); the serializer stays its
    #: schema and the reference `tests/test_list_rows.py` compares the rows with.
    serializer_classes = {"default": AuditEventSerializer, "list": AuditEventSerializer}
    pagination_class = EventCursorPagination
    filter_backends = [EventFilterBackend]
    filterset_class = AuditEventFilterSet
