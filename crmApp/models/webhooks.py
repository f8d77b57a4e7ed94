"""Webhook endpoints of an organization and the HTTP deliveries made to them.

An endpoint receives the organization's outbox events (all of them, or the types it lists) as
signed JSON POSTs. One delivery row exists per (event, endpoint); a redelivery or a ping is a
row of its own. The row carries the retry state and what the last attempt got back.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookEndpoint(models.Model):
    TENANT_PATH = "organization_id"

    # Looked up through webhooks_org_active, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization",
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        db_index=False,
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=255, blank=True, default="")
    #: Event types this endpoint receives; empty means every type.
    event_types = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    #: The signing secret, stored as is: an HMAC needs the key itself, so it cannot be hashed.
    #: The API shows it only in the answers that create it (create, rotate_secret).
    secret = models.CharField(max_length=100)
    #: Failed attempts in a row, reset by a success; disables the endpoint at the setting.
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True, default="")
    created_by = models.ForeignKey(
        "crmApp.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhook_endpoints"
        indexes = [models.Index(fields=["organization", "is_active"], name="webhooks_org_active")]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookDelivery(models.Model):
    TENANT_PATH = "organization_id"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="+"
    )
    # Looked up through webhook_deliv_endpoint, which leads with it.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    #: Null for a ping.
    event = models.ForeignKey(
        "crmApp.Event", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    event_type = models.CharField(max_length=64)
    #: The JSON body, kept so that retries and redeliveries send exactly the same bytes' content.
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhook_deliveries"
        constraints = [
            # The fan-out of one event to one endpoint happens once, however often it is retried.
            models.UniqueConstraint(
                fields=["event", "endpoint"],
                condition=Q(redelivery_of__isnull=True, event__isnull=False),
                name="uniq_webhook_event_endpoint",
            )
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at", "-id"], name="webhook_deliv_endpoint"),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_deliveries_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> endpoint {self.endpoint_id} ({self.status})"


class IdempotencyKey(models.Model):
    """A POST answered once per (user, key): the request's fingerprint and the stored answer.

    The row is inserted (claimed) before the request runs, in the request's transaction, so it
    commits together with the writes and the answer, or not at all.
    """

    # Looked up through uniq_idempotency_user_key, which leads with it.
    user = models.ForeignKey(
        "crmApp.User", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=2000)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=255, blank=True, default="")
    body = models.TextField(blank=True, default="")
    location = models.CharField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "idempotency_keys"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="uniq_idempotency_user_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
