"""Activities: the calls, meetings, emails, notes and tasks a team records against a record."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from crmApp.models.base import OrganizationScopedModel

#: The records an activity may belong to (exactly one of them).
ACTIVITY_PARENTS = ("customer", "lead", "deal")


class Activity(OrganizationScopedModel):
    EVENT_RESOURCE = "activity"

    class Type(models.TextChoices):
        CALL = "call", "Call"
        MEETING = "meeting", "Meeting"
        EMAIL = "email", "Email"
        NOTE = "note", "Note"
        TASK = "task", "Task"

    type = models.CharField(max_length=16, choices=Type.choices, default=Type.NOTE)
    subject = models.CharField(max_length=255)
    body = models.TextField(blank=True, default="")
    due_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Looked up through activities_assigne_a7477e_idx, which leads with it.
    assignee = models.ForeignKey(
        "crmApp.Employee",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
        db_index=False,
    )
    # Looked up through activities_customer_idx, which leads with it.
    customer = models.ForeignKey(
        "crmApp.Customer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
        db_index=False,
    )
    # Looked up through activities_lead_idx, which leads with it.
    lead = models.ForeignKey(
        "crmApp.Lead",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
        db_index=False,
    )
    # Looked up through activities_deal_idx, which leads with it.
    deal = models.ForeignKey(
        "crmApp.Deal",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
        db_index=False,
    )
    created_by = models.ForeignKey(
        "crmApp.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "activities"
        constraints = [
            # Exactly one parent: a timeline shows each activity once, under its record.
            models.CheckConstraint(
                condition=(
                    Q(customer__isnull=False, lead__isnull=True, deal__isnull=True)
                    | Q(customer__isnull=True, lead__isnull=False, deal__isnull=True)
                    | Q(customer__isnull=True, lead__isnull=True, deal__isnull=False)
                ),
                name="activity_one_parent",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "id"]),
            models.Index(fields=["organization", "type"]),
            # My tasks, overdue and the digest: open rows of one assignee by due time.
            models.Index(fields=["assignee", "completed_at", "due_at"]),
            models.Index(
                fields=["organization", "due_at"],
                condition=Q(completed_at__isnull=True),
                name="activities_open_due_idx",
            ),
            # The timelines: one parent's activities newest first, (created_at, id) as the cursor.
            models.Index(fields=["customer", "-created_at", "-id"], name="activities_customer_idx"),
            models.Index(fields=["lead", "-created_at", "-id"], name="activities_lead_idx"),
            models.Index(fields=["deal", "-created_at", "-id"], name="activities_deal_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.subject}"

    @property
    def is_overdue(self) -> bool:
        return (
            self.completed_at is None and self.due_at is not None and self.due_at < timezone.now()
        )
