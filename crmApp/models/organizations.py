"""Organizations (tenants) and memberships."""

from django.db import models

from crmApp.models.base import AddressFields, TimeStampedModel


class Organization(AddressFields, TimeStampedModel):
    #: An organization is its own tenant.
    TENANT_PATH = "id"

    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=255, unique=True)
    description = models.TextField(null=True, blank=True)
    industry = models.CharField(max_length=100, null=True, blank=True)
    website = models.URLField(max_length=255, null=True, blank=True)
    phone = models.CharField(max_length=20, null=True, blank=True)
    email = models.EmailField(max_length=255, null=True, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    subscription_plan = models.CharField(max_length=50, default="free")
    subscription_status = models.CharField(max_length=50, default="active")
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "organizations"

    def __str__(self) -> str:
        return self.name


class UserOrganization(TimeStampedModel):
    TENANT_PATH = "organization_id"

    # Looked up through uniq_membership, which leads with it.
    user = models.ForeignKey(
        "crmApp.User", on_delete=models.CASCADE, related_name="user_organizations", db_index=False
    )
    # Looked up through the (organization, is_active) index, which leads with it.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="user_organizations", db_index=False
    )
    is_active = models.BooleanField(default=True)
    is_owner = models.BooleanField(default=False)
    joined_at = models.DateTimeField(auto_now_add=True)
    left_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(
        "crmApp.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sent_invitations",
    )
    invitation_accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "user_organizations"
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership")
        ]
        indexes = [models.Index(fields=["organization", "is_active"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organization_id}"
