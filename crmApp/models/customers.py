from django.db import models

from crmApp.models.base import ActiveStatus, AddressFields, OrganizationScopedModel


class Customer(AddressFields, OrganizationScopedModel):
    EVENT_RESOURCE = "customer"

    CODE_PREFIX = "CUS"

    class CustomerType(models.TextChoices):
        INDIVIDUAL = "individual", "Individual"
        BUSINESS = "business", "Business"

    code = models.CharField(max_length=50, null=True, blank=True)
    #: The caller's own id for the record (another system's key), unique per organization.
    external_id = models.CharField(max_length=255, null=True, blank=True)
    name = models.CharField(max_length=255)
    customer_type = models.CharField(
        max_length=20, choices=CustomerType.choices, default=CustomerType.INDIVIDUAL
    )
    company_name = models.CharField(max_length=255, null=True, blank=True)
    industry = models.CharField(max_length=100, null=True, blank=True)
    website = models.URLField(max_length=255, null=True, blank=True)
    tax_id = models.CharField(max_length=50, null=True, blank=True)
    contact_person = models.CharField(max_length=255, null=True, blank=True)
    email = models.EmailField(max_length=255)
    phone = models.CharField(max_length=20, null=True, blank=True)
    mobile = models.CharField(max_length=20, null=True, blank=True)
    assigned_to = models.ForeignKey(
        "crmApp.Employee",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customers",
    )
    credit_limit = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    payment_terms = models.CharField(max_length=100, null=True, blank=True)
    source = models.CharField(max_length=100, null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    notes = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ActiveStatus.choices, default="active")
    converted_from_lead = models.ForeignKey(
        "crmApp.Lead",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="converted_customers",
    )
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "customers"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="uniq_customer_external_id",
            ),
            models.UniqueConstraint(fields=["organization", "code"], name="uniq_customer_code"),
        ]
        indexes = [
            models.Index(fields=["organization", "id"]),
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["organization", "customer_type"]),
        ]

    def __str__(self) -> str:
        return self.name
