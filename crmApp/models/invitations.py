"""Invitations: how a person joins an organization they do not belong to yet.

An invitation names an email address, never an account: the membership appears only when the
owner of that address accepts with the emailed token, so knowing someone's address (or guessing
account ids) is not enough to pull them into an organization.
"""

from django.db import models
from django.db.models import Q

from crmApp.models.base import TimeStampedModel
from crmApp.models.users import IdentityKeyField


class Invitation(TimeStampedModel):
    TENANT_PATH = "organization_id"

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REVOKED = "revoked"

    # Looked up through the (organization, status) index, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="invitations", db_index=False
    )
    #: The address as the inviter typed it (what answers show); the key is what is compared.
    email = models.EmailField(max_length=255)
    email_key = IdentityKeyField(max_length=320, source="email")
    role = models.ForeignKey(
        "crmApp.Role", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    invited_by = models.ForeignKey(
        "crmApp.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    #: SHA-256 of the emailed token; null until the email task has minted one. Only the hash is
    #: kept, so a database read does not yield working links.
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        "crmApp.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "invitations"
        constraints = [
            # Inviting an address twice refreshes its pending invitation instead of adding one.
            models.UniqueConstraint(
                fields=["organization", "email_key"],
                condition=Q(status="pending"),
                name="invitations_one_pending_per_email",
            )
        ]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return f"invitation {self.pk} to {self.organization_id}"
