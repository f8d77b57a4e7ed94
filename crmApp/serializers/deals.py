"""Deal list item and detail; the detail is also the create/update form.

The detail answers with the nested customer, pipeline (with its stages), stage and assignee, plus
the form's `customer_id`, `pipeline_id`, `stage_id` and `assigned_to_id`. Creates and updates
go through `crmApp.services.deals`, which owns the won/lost state machine.
"""

from django.utils import timezone
from rest_framework import serializers

from crmApp.models import Customer, Deal, DealStageHistory, Employee, Pipeline, PipelineStage
from crmApp.selectors.deals import STAGE_ENTERED_AT, days_in_stage, is_rotting
from crmApp.serializers.base import (
    CachedFieldsModelSerializer,
    ScopedRelatedField,
    TagsField,
    TenantModelSerializer,
)
from crmApp.serializers.customers import CustomerListSerializer
from crmApp.serializers.employees_nested import EmployeeListItemSerializer
from crmApp.serializers.pipelines import PipelineSerializer, PipelineStageSerializer

STAGE_OUTSIDE_PIPELINE = "The stage does not belong to the deal's pipeline."
CUSTOMER_FIXED = "The customer of a deal cannot be changed."
PIPELINE_FIXED = "The pipeline of a deal cannot be changed."
#: Accepted by the update form only (on create a deal always starts open and active).
UPDATE_ONLY_FIELDS = ("status", "actual_close_date", "is_won", "is_lost", "lost_reason")


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
    )
    assigned_to_id = ScopedRelatedField(
        source="assigned_to", queryset=Employee.objects.all(), required=False, allow_null=True
    )
    tags = TagsField()
    days_in_stage = serializers.SerializerMethodField()
    is_rotting = serializers.SerializerMethodField()

    class Meta:
        model = Deal
        fields = [
            "id",
            "organization",
            "code",
            "external_id",
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
            "days_in_stage",
            "is_rotting",
            "customer_id",
            "pipeline_id",
            "stage_id",
            "assigned_to_id",
        ]
        read_only_fields = ["id", "code", "expected_revenue", "created_at", "updated_at"]

    def get_days_in_stage(self, deal: Deal) -> int | None:
        """Whole days since the deal entered its current stage (the start of its open
        stage-history row); null without a stage."""
        return days_in_stage(getattr(deal, STAGE_ENTERED_AT, None), timezone.now())

    def get_is_rotting(self, deal: Deal) -> bool:
        """Open, and longer in its stage than the stage's `rotting_days`."""
        return is_rotting(deal, timezone.now())

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
            return self._validate_create(attrs)
        return self._validate_update(attrs)

    @staticmethod
    def _validate_create(attrs):
        """A new deal: update-only fields dropped; its stage must be in its pipeline."""
        for name in UPDATE_ONLY_FIELDS:
            attrs.pop(name, None)
        if attrs["stage"].pipeline_id != attrs["pipeline"].pk:
            raise serializers.ValidationError({"stage_id": [STAGE_OUTSIDE_PIPELINE]})
        return attrs

    def _validate_update(self, attrs):
        """An existing deal: its customer and pipeline are fixed; its stage stays in its pipeline
        (a null stage only where the stage is already gone)."""
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


class DealStageHistorySerializer(serializers.ModelSerializer):
    """One stay of a deal in a stage: when it entered and left, and who moved it there."""

    stage_name = serializers.CharField(source="stage.name", read_only=True, allow_null=True)
    actor_name = serializers.CharField(source="actor.full_name", read_only=True, allow_null=True)

    class Meta:
        model = DealStageHistory
        fields = [
            "id",
            "stage",
            "stage_name",
            "outcome",
            "entered_at",
            "left_at",
            "actor",
            "actor_name",
        ]
        read_only_fields = fields


class DealRottingSerializer(DealListSerializer):
    """Documents a row of `rotting/`: the list row, the stage's limit and the time spent."""

    rotting_days = serializers.IntegerField(source="stage.rotting_days", read_only=True)
    stage_entered_at = serializers.DateTimeField(read_only=True)
    days_in_stage = serializers.IntegerField(read_only=True)

    class Meta(DealListSerializer.Meta):
        fields = [
            *DealListSerializer.Meta.fields,
            "rotting_days",
            "stage_entered_at",
            "days_in_stage",
        ]
        read_only_fields = fields


class _Page(serializers.Serializer):
    """Documents a page of `stage_history/` or `rotting/` (the list pagination envelope)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class DealStageHistoryPageSerializer(_Page):
    results = DealStageHistorySerializer(many=True)


class DealRottingPageSerializer(_Page):
    results = DealRottingSerializer(many=True)
