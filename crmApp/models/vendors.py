from django.db import models

from crmApp.models.base import ActiveStatus, AddressFields, OrganizationScopedModel


class Vendor(AddressFields, OrganizationScopedModel):
    EVENT_RESOURCE = "vendor"

    CODE_PREFIX = "VEN"

    class VendorType(models.TextChoices):
        SUPPLIER = "supplier", "Supplier"
        SERVICE_PROVIDER = "service_provider", "Service provider"
        CONTRACTOR = "contractor", "Contractor"
        CONSULTANT = "consultant", "Consultant"

    code = models.CharField(max_length=50, null=True, blank=True)
    name = models.CharField(max_length=255)
    vendor_type = models.CharField(
        max_length=50, choices=VendorType.choices, default=VendorType.SUPPLIER
    )
    contact_person = models.CharField(max_length=255, null=True, blank=True)
    email = models.EmailField(max_length=255)
    phone = models.CharField(max_length=20, null=True, blank=True)
    mobile = models.CharField(max_length=20, null=True, blank=True)
    tax_id = models.CharField(max_length=50, null=True, blank=True)
    website = models.URLField(max_length=255, null=True, blank=True)
    payment_terms = models.CharField(max_length=100, null=True, blank=True)
    credit_limit = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    notes = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ActiveStatus.choices, default="active")

    class Meta:
        db_table = "vendors"
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="uniq_vendor_code")
        ]
        indexes = [
            models.Index(fields=["organization", "id"]),
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["organization", "vendor_type"]),
        ]

    def __str__(self) -> str:
        return self.name
