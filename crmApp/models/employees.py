from django.db import models

from crmApp.models.base import ActiveStatus, AddressFields, OrganizationScopedModel


class Employee(AddressFields, OrganizationScopedModel):
    EVENT_RESOURCE = "employee"

    CODE_PREFIX = "EMP"

    class EmploymentType(models.TextChoices):
        FULL_TIME = "full_time", "Full time"
        PART_TIME = "part_time", "Part time"
        CONTRACT = "contract", "Contract"
        INTERN = "intern", "Intern"

    code = models.CharField(max_length=50, null=True, blank=True)
    user = models.ForeignKey(
        "crmApp.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="employee_profiles",
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(max_length=255)
    phone = models.CharField(max_length=20, null=True, blank=True)
    mobile = models.CharField(max_length=20, null=True, blank=True)
    job_title = models.CharField(max_length=100, null=True, blank=True)
    department = models.CharField(max_length=100, null=True, blank=True)
    employment_type = models.CharField(
        max_length=20, choices=EmploymentType.choices, default=EmploymentType.FULL_TIME
    )
    hire_date = models.DateField(null=True, blank=True)
    termination_date = models.DateField(null=True, blank=True)
    manager = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="direct_reports"
    )
    salary = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    commission_rate = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=20, choices=ActiveStatus.choices, default="active")

    class Meta:
        db_table = "employees"
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="uniq_employee_code")
        ]
        indexes = [
            models.Index(fields=["organization", "id"]),
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["organization", "department"]),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"
