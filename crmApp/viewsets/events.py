"""`/api/events/`: the organization's outbox events, newest first (read-only)."""

from rest_framework import mixins, viewsets

from crmApp.filters.events import EventFilterBackend, EventFilterSet
from crmApp.pagination import SignedCursorPagination
from crmApp.selectors.events import EventSelector
from crmApp.serializers.events import EventSerializer
from crmApp.viewsets.base import OrganizationScopedMixin


class EventCursorPagination(SignedCursorPagination):
    """Cursor pages over (created_at, id) descending, served by `events_org_newest_idx`.

    A cursor, unlike a page number, stays correct while new events arrive at the top, and
    costs no COUNT over a table that only grows.
    """

    ordering = ("-created_at", "-id")


class EventViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    selector = EventSelector()
    serializer_class = EventSerializer
    pagination_class = EventCursorPagination
    filter_backends = [EventFilterBackend]
    filterset_class = EventFilterSet
