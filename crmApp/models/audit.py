"""The audit log: who changed which record, when, in which request, field by field."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One write to one record (or one business action on it), with its changed fields.

    `changes` maps a field to `{"old": ..., "new": ...}` (a create has only new values, a delete
    only old ones); secret fields never appear in it. Rows are only ever inserted by the
    services, in the transaction of the write they describe, and deleted by the retention purge.
    """

    TENANT_PATH = "organization_id"

    # Looked up through audit_org_newest_idx, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="audit_events", db_index=False
    )
    actor = models.ForeignKey(
        "crmApp.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    request_id = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=32)
    resource = models.CharField(max_length=32)
    record_id = models.BigIntegerField()
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "audit_events"
        indexes = [
            # The list: one organization, newest first, (created_at, id) as the cursor.
            models.Index(
                fields=["organization", "-created_at", "-id"], name="audit_org_newest_idx"
            ),
            # A record's history (filters and the timelines).
            models.Index(
                fields=["organization", "resource", "record_id", "-created_at", "-id"],
                name="audit_record_idx",
            ),
            models.Index(fields=["organization", "actor", "-created_at"], name="audit_actor_idx"),
            # The retention purge.
            models.Index(fields=["created_at"], name="audit_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.resource}#{self.record_id} {self.action}"
