"""Audit log reads."""

from django.db.models import QuerySet

from crmApp.models import AuditEvent
from crmApp.selectors.base import ResourceSelector


class AuditEventSelector(ResourceSelector):
    model = AuditEvent

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("actor")
