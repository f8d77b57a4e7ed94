from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from crmApp.models.base import ActiveStatus, AddressFields, OrganizationScopedModel


class Lead(AddressFields, OrganizationScopedModel):
    EVENT_RESOURCE = "lead"

    CODE_PREFIX = "LEAD"

    class Source(models.TextChoices):
        WEBSITE = "website", "Website"
        REFERRAL = "referral", "Referral"
        SOCIAL_MEDIA = "social_media", "Social media"
        EMAIL_CAMPAIGN = "email_campaign", "Email campaign"
        COLD_CALL = "cold_call", "Cold call"
        EVENT = "event", "Event"
        PARTNER = "partner", "Partner"
        OTHER = "other", "Other"

    class QualificationStatus(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        QUALIFIED = "qualified", "Qualified"
        UNQUALIFIED = "unqualified", "Unqualified"
        CONVERTED = "converted", "Converted"
        LOST = "lost", "Lost"

    code = models.CharField(max_length=50, null=True, blank=True)
    #: The caller's own id for the record (another system's key), unique per organization.
    external_id = models.CharField(max_length=255, null=True, blank=True)
    name = models.CharField(max_length=255)
    company = models.CharField(max_length=255, null=True, blank=True)
    job_title = models.CharField(max_length=100, null=True, blank=True)
    email = models.EmailField(max_length=255)
    phone = models.CharField(max_length=20, null=True, blank=True)
    mobile = models.CharField(max_length=20, null=True, blank=True)
    status = models.CharField(max_length=20, choices=ActiveStatus.choices, default="active")
    source = models.CharField(max_length=50, choices=Source.choices, default=Source.WEBSITE)
    qualification_status = models.CharField(
        max_length=20, choices=QualificationStatus.choices, default=QualificationStatus.NEW
    )
    assigned_to = models.ForeignKey(
        "crmApp.Employee", on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    lead_score = models.IntegerField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    estimated_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    is_converted = models.BooleanField(default=False)
    converted_at = models.DateTimeField(null=True, blank=True)
    converted_by = models.ForeignKey(
        "crmApp.Employee",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="converted_leads",
    )
    tags = models.JSONField(default=list, blank=True)
    notes = models.TextField(null=True, blank=True)
    campaign = models.CharField(max_length=255, null=True, blank=True)
    referrer = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "leads"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="uniq_lead_external_id",
            ),
            models.UniqueConstraint(fields=["organization", "code"], name="uniq_lead_code"),
        ]
        indexes = [
            models.Index(fields=["organization", "id"]),
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["organization", "qualification_status"]),
            models.Index(fields=["organization", "source"]),
            models.Index(fields=["organization", "lead_score"]),
            models.Index(fields=["is_converted"]),
        ]

    def __str__(self) -> str:
        return self.name
