"""Audit log reads: the detail with its actor, the list as rows (`LIST_FIELDS`)."""

from django.db.models import QuerySet

from crmApp.models import AuditEvent
from crmApp.selectors.base import ResourceSelector
from crmApp.selectors.rows import Field, ListSpec, plain, serialized_datetime


def actor_summary(
    actor_id: int | None, email: str | None, first: str, last: str, username: str
) -> dict | None:
    """The actor as the audit serializer shows it: id, email and a display name (the full name,
    else the username); null for a system write."""
    if actor_id is None:
        return None
    return {"id": actor_id, "email": email, "name": f"{first} {last}".strip() or username}


LIST_FIELDS = (
    *plain("id"),
    Field("organization", ("organization_id",)),
    Field(
        "actor",
        ("actor_id", "actor__email", "actor__first_name", "actor__last_name", "actor__username"),
        actor_summary,
    ),
    *plain("request_id", "action", "resource", "record_id", "changes"),
    Field("created_at", ("created_at",), serialized_datetime),
)


class AuditEventSelector(ResourceSelector):
    model = AuditEvent
    list_rows = ListSpec(LIST_FIELDS)

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("actor")
