"""The transactional outbox: domain events and their per-consumer deliveries.

An event is written in the same transaction as the change it describes, so it exists exactly
when the change does. Deliveries are created by the dispatcher, one per (event, consumer); the
unique pair makes handing an event to a consumer idempotent, and the row carries the retry state.
"""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

#: resource -> the verbs an event of that resource may carry. Types are "<resource>.<verb>".
EVENT_VERBS: dict[str, tuple[str, ...]] = {
    "customer": ("created", "updated", "deleted"),
    "lead": ("created", "updated", "deleted", "converted", "qualified", "disqualified"),
    "deal": (
        "created",
        "updated",
        "deleted",
        "stage_changed",
        "won",
        "lost",
        "reopened",
    ),
    "employee": ("created", "updated", "deleted"),
    "vendor": ("created", "updated", "deleted"),
    "member": ("invited", "joined", "removed"),
    "webhook": ("disabled",),
    "activity": ("created", "updated", "deleted", "completed"),
}
EVENT_RESOURCES: tuple[str, ...] = tuple(EVENT_VERBS)
EVENT_TYPES: tuple[str, ...] = tuple(
    f"{resource}.{verb}" for resource, verbs in EVENT_VERBS.items() for verb in verbs
)


class Event(models.Model):
    TENANT_PATH = "organization_id"

    # Looked up through events_org_newest_idx, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="events", db_index=False
    )
    type = models.CharField(max_length=64)
    resource = models.CharField(max_length=32)
    resource_id = models.BigIntegerField()
    actor = models.ForeignKey(
        "crmApp.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    snapshot = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    #: Set once the dispatcher has created this event's deliveries (null = still pending).
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "events"
        indexes = [
            # The list: one organization, newest first, (created_at, id) as the cursor.
            models.Index(
                fields=["organization", "-created_at", "-id"], name="events_org_newest_idx"
            ),
            models.Index(
                fields=["organization", "resource", "resource_id"], name="events_org_resource_idx"
            ),
            # The dispatcher's scan: only pending events are in it, so it stays small.
            models.Index(
                fields=["id"], condition=Q(fanned_out_at__isnull=True), name="events_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.resource_id}"


class EventDelivery(models.Model):
    TENANT_PATH = "event__organization_id"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    # Looked up through uniq_event_delivery, which leads with it.
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    consumer = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "event_deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "consumer"], name="uniq_event_delivery")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="event_deliveries_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.consumer} <- event {self.event_id} ({self.status})"
