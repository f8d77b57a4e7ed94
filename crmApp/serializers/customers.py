"""Customer list item and detail; the detail is also the create/update form."""

from rest_framework import serializers

from crmApp.models import Customer, Employee, Lead
from crmApp.serializers.base import (
    CachedFieldsModelSerializer,
    ScopedRelatedField,
    TagsField,
    TenantModelSerializer,
    ZipCodeField,
)
from crmApp.serializers.employees_nested import EmployeeListItemSerializer


class LeadReferenceSerializer(CachedFieldsModelSerializer):
    class Meta:
        model = Lead
        fields = ["id", "name"]
        read_only_fields = fields


class CustomerListSerializer(CachedFieldsModelSerializer):
    assigned_to_name = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id",
            "code",
            "name",
            "email",
            "phone",
            "customer_type",
            "status",
            "assigned_to_name",
        ]
        read_only_fields = fields

    def get_assigned_to_name(self, customer: Customer) -> str | None:
        employee = customer.assigned_to
        return employee.full_name if employee is not None else None


class CustomerSerializer(TenantModelSerializer):
    assigned_to = EmployeeListItemSerializer(read_only=True, allow_null=True)
    assigned_to_id = ScopedRelatedField(
        source="assigned_to",
        queryset=Employee.objects.all(),
        required=False,
        allow_null=True,
    )
    zip_code = ZipCodeField()
    tags = TagsField()
    converted_from_lead = LeadReferenceSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "organization",
            "code",
            "external_id",
            "name",
            "company_name",
            "contact_person",
            "email",
            "phone",
            "website",
            "customer_type",
            "status",
            "industry",
            "assigned_to",
            "assigned_to_id",
            "payment_terms",
            "credit_limit",
            "tax_id",
            "address",
            "city",
            "state",
            "zip_code",
            "country",
            "source",
            "tags",
            "notes",
            "converted_from_lead",
            "converted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "code", "converted_at", "created_at", "updated_at"]
