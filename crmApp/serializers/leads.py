"""Lead list item and detail; the detail is also the create/update form.

`status` is not part of the create form (a lead starts active). `qualification_status` may never
be set to `converted` by a form (only conversion does that) and is frozen once a lead is
converted, so the lead and the customer made from it cannot drift apart.
"""

from rest_framework import serializers

from crmApp.models import Employee, Lead
from crmApp.serializers.base import (
    CachedFieldsModelSerializer,
    ScopedRelatedField,
    TagsField,
    TenantModelSerializer,
    ZipCodeField,
)
from crmApp.serializers.employees_nested import EmployeeListItemSerializer

CONVERTED_ONLY_BY_CONVERT = "Only lead conversion can set this status."
CONVERTED_IS_FINAL = "The qualification status of a converted lead cannot be changed."


class LeadListSerializer(CachedFieldsModelSerializer):
    assigned_to_name = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = [
            "id",
            "code",
            "name",
            "email",
            "phone",
            "company",
            "job_title",
            "status",
            "source",
            "qualification_status",
            "lead_score",
            "estimated_value",
            "assigned_to_name",
            "is_converted",
            "created_at",
        ]
        read_only_fields = fields

    def get_assigned_to_name(self, lead: Lead) -> str | None:
        employee = lead.assigned_to
        return employee.full_name if employee is not None else None


class LeadSerializer(TenantModelSerializer):
    assigned_to = EmployeeListItemSerializer(read_only=True, allow_null=True)
    assigned_to_id = ScopedRelatedField(
        source="assigned_to",
        queryset=Employee.objects.all(),
        required=False,
        allow_null=True,
    )
    converted_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    converted_by_name = serializers.SerializerMethodField()
    zip_code = ZipCodeField()
    tags = TagsField()

    class Meta:
        model = Lead
        fields = [
            "id",
            "organization",
            "code",
            "external_id",
            "name",
            "company",
            "job_title",
            "email",
            "phone",
            "status",
            "source",
            "qualification_status",
            "assigned_to",
            "assigned_to_id",
            "lead_score",
            "estimated_value",
            "is_converted",
            "converted_at",
            "converted_by",
            "converted_by_name",
            "tags",
            "notes",
            "campaign",
            "referrer",
            "address",
            "city",
            "state",
            "zip_code",
            "country",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "code",
            "is_converted",
            "converted_at",
            "created_at",
            "updated_at",
        ]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is None:
            fields["status"].read_only = True  # not in the create form: a new lead is active
        return fields

    def get_converted_by_name(self, lead: Lead) -> str | None:
        employee = lead.converted_by
        return employee.full_name if employee is not None else None

    def validate_qualification_status(self, value: str) -> str:
        lead = self.instance
        if lead is not None and lead.is_converted:
            if value != lead.qualification_status:
                raise serializers.ValidationError(CONVERTED_IS_FINAL)
            return value
        if value == Lead.QualificationStatus.CONVERTED:
            raise serializers.ValidationError(CONVERTED_ONLY_BY_CONVERT)
        return value
