"""Files attached to a CRM record (a customer, a lead, a deal or an activity) of the same
organization."""

from django.db import models
from django.db.models import Q

from crmApp.models.base import OrganizationScopedModel

#: THE ONE PLACE that lists what an attachment may hang on: parent kind (also the name of the
#: attachment's foreign key to it) -> the permission resource that governs it. Adding a kind is a
#: nullable foreign key named like the kind on `Attachment`, one entry here, and a migration;
#: the constraint, the API form, the permission rule and the admin read it.
ATTACHMENT_PARENTS: dict[str, str] = {
    "customer": "customers",
    "lead": "leads",
    "deal": "deals",
    "activity": "activities",
}


def _one_parent_matching_its_kind() -> Q:
    condition = Q()
    for kind in ATTACHMENT_PARENTS:
        others = {f"{other}__isnull": True for other in ATTACHMENT_PARENTS if other != kind}
        condition |= Q(parent_type=kind, **{f"{kind}__isnull": False}, **others)
    return condition


class Attachment(OrganizationScopedModel):
    """A stored file (`blob_name` in the attachments storage) and what was detected about it.

    `content_type` is detected from the bytes, never taken from the client; `name` is the
    sanitised original file name, used only for the download's Content-Disposition.
    """

    parent_type = models.CharField(
        max_length=20, choices=[(kind, kind.title()) for kind in ATTACHMENT_PARENTS]
    )
    customer = models.ForeignKey(
        "crmApp.Customer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
    )
    lead = models.ForeignKey(
        "crmApp.Lead", on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    deal = models.ForeignKey(
        "crmApp.Deal", on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    activity = models.ForeignKey(
        "crmApp.Activity",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
    )
    name = models.CharField(max_length=255)
    blob_name = models.CharField(max_length=255, unique=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        "crmApp.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "attachments"
        constraints = [
            models.CheckConstraint(
                condition=_one_parent_matching_its_kind(), name="attachment_one_parent"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "id"], name="attachments_org_id"),
            models.Index(fields=["organization", "parent_type"], name="attachments_org_kind"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def parent(self) -> models.Model:
        return getattr(self, self.parent_type)

    @property
    def parent_id(self) -> int:
        return getattr(self, f"{self.parent_type}_id")
