"""Deal list item and detail (contract §7.9); the detail is also the create/update form.

The detail answers with the nested customer, pipeline (with its stages), stage and assignee, plus
the form's `customer_id`, `pipeline_id`, `stage_id` and `assigned_to_id` (C1). Creates and updates
go through `crmApp.services.deals`, which owns the won/lost state machine.
"""

from rest_framework import serializers

from crmApp.models import Customer, Deal, Employee, Pipeline, PipelineStage
from crmApp.serializers.base import (
    MAX_TEXT_LENGTH,
    CachedFieldsModelSerializer,
    ScopedRelatedField,
    TagsField,
    TenantModelSerializer,
)
from crmApp.serializers.customers import CustomerListSerializer
from crmApp.serializers.employees_nested import EmployeeListItemSerializer
from crmApp.serializers.pipelines import PipelineSerializer, PipelineStageSerializer
from crmApp.services import deals as services

STAGE_OUTSIDE_PIPELINE = "The stage does not belong to the deal's pipeline."
CUSTOMER_FIXED = "The customer of a deal cannot be changed."
PIPELINE_FIXED = "The pipeline of a deal cannot be changed."
#: Accepted by the update form only (on create a deal always starts open and active).
UPDATE_ONLY_FIELDS = ("status", "actual_close_date", "is_won", "is_lost", "lost_reason")


def _actor(context: dict):
    """The requesting user, recorded on the deal's events."""
    return getattr(context.get("request"), "user", None)


def _pk(obj) -> int | None:
    return obj.pk if obj is not None else None


class DealListSerializer(CachedFieldsModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True, allow_null=True)
    stage_name = serializers.CharField(source="stage.name", read_only=True, allow_null=True)
    assigned_to_name = serializers.CharField(
        source="assigned_to.full_name", read_only=True, allow_null=True
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "code",
            "title",
            "customer_name",
            "value",
            "currency",
            "stage_name",
            "probability",
            "expected_close_date",
            "assigned_to_name",
            "status",
            "priority",
            "is_won",
            "is_lost",
            "created_at",
        ]
        read_only_fields = fields


class DealSerializer(TenantModelSerializer):
    customer = CustomerListSerializer(read_only=True, allow_null=True)
    pipeline = PipelineSerializer(read_only=True, allow_null=True)
    stage = PipelineStageSerializer(read_only=True, allow_null=True)
    assigned_to = EmployeeListItemSerializer(read_only=True, allow_null=True)
    customer_id = ScopedRelatedField(source="customer", queryset=Customer.objects.all())
    pipeline_id = ScopedRelatedField(source="pipeline", queryset=Pipeline.objects.all())
    stage_id = ScopedRelatedField(
        source="stage",
        queryset=PipelineStage.objects.all(),
        organization_path="pipeline__organization_id",
    )
    assigned_to_id = ScopedRelatedField(
        source="assigned_to", queryset=Employee.objects.all(), required=False, allow_null=True
    )
    tags = TagsField()

    class Meta:
        model = Deal
        fields = [
            "id",
            "organization",
            "code",
            "customer",
            "pipeline",
            "stage",
            "title",
            "description",
            "value",
            "currency",
            "probability",
            "expected_revenue",
            "expected_close_date",
            "actual_close_date",
            "status",
            "priority",
            "assigned_to",
            "is_won",
            "is_lost",
            "lost_reason",
            "source",
            "tags",
            "notes",
            "created_at",
            "updated_at",
            "customer_id",
            "pipeline_id",
            "stage_id",
            "assigned_to_id",
        ]
        read_only_fields = ["id", "code", "expected_revenue", "created_at", "updated_at"]

    def get_fields(self):
        fields = super().get_fields()
        creating = self.instance is None
        for name in ("customer_id", "pipeline_id", "stage_id"):
            # Required on create; on update a null is accepted only where the relation is
            # already gone (its row was deleted), so a client can PUT back what it read.
            fields[name].required = creating
            fields[name].allow_null = not creating
        return fields

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is None:
            for name in UPDATE_ONLY_FIELDS:
                attrs.pop(name, None)
            if attrs["stage"].pipeline_id != attrs["pipeline"].pk:
                raise serializers.ValidationError({"stage_id": [STAGE_OUTSIDE_PIPELINE]})
            return attrs
        errors = {}
        for name, message in (("customer", CUSTOMER_FIXED), ("pipeline", PIPELINE_FIXED)):
            if name in attrs and _pk(attrs.pop(name)) != getattr(self.instance, f"{name}_id"):
                errors[f"{name}_id"] = [message]
        if "stage" in attrs:
            stage = attrs["stage"]
            if stage is None and self.instance.stage_id is not None:
                errors["stage_id"] = ["This field may not be null."]
            elif stage is not None and stage.pipeline_id != self.instance.pipeline_id:
                errors["stage_id"] = [STAGE_OUTSIDE_PIPELINE]
            elif stage is None:
                attrs.pop("stage")
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data):
        return services.deal_create(**validated_data, actor=_actor(self.context))

    def update(self, instance, validated_data):
        return services.deal_update(deal=instance, **validated_data, actor=_actor(self.context))


class DealMarkLostSerializer(serializers.Serializer):
    lost_reason = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=MAX_TEXT_LENGTH
    )
