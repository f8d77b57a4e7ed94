"""Invitation reads."""

from django.db.models import QuerySet

from crmApp.models import Invitation
from crmApp.selectors.base import ResourceSelector


class InvitationSelector(ResourceSelector):
    model = Invitation

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("role")
