"""Pipeline and stage representations; each is also its own create/update form.

Writes go through `crmApp.services.pipelines`, which keeps one default pipeline per organization
and every pipeline's stage orders dense (0..n-1).
"""

from rest_framework import serializers

from crmApp.models import Pipeline, PipelineStage
from crmApp.serializers.base import ScopedRelatedField, TenantModelSerializer

MAX_INT32 = 2**31 - 1
STAGE_PIPELINE_FIXED = "A stage cannot be moved to another pipeline."
STAGE_BOTH_CLOSED = "A stage cannot be both closed-won and closed-lost."


class PipelineStageSerializer(TenantModelSerializer):
    """A stage's organization is its pipeline's: there is no `organization` field to send."""

    organization = None
    pipeline = ScopedRelatedField(queryset=Pipeline.objects.all())

    class Meta:
        model = PipelineStage
        fields = [
            "id",
            "pipeline",
            "name",
            "description",
            "order",
            "probability",
            "is_active",
            "is_closed_won",
            "is_closed_lost",
            "auto_move_after_days",
            "rotting_days",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "order": {"min_value": 0, "max_value": MAX_INT32},
            "auto_move_after_days": {"min_value": 0, "max_value": MAX_INT32, "allow_null": True},
            "rotting_days": {"min_value": 1, "max_value": MAX_INT32, "allow_null": True},
        }

    def resolve_organization_id(self, attrs) -> int:
        if self.instance is None:
            return attrs["pipeline"].organization_id
        pipeline = attrs.pop("pipeline", None)
        if pipeline is not None and pipeline.pk != self.instance.pipeline_id:
            raise serializers.ValidationError({"pipeline": [STAGE_PIPELINE_FIXED]})
        return self.instance.pipeline.organization_id

    def validate(self, attrs):
        attrs = super().validate(attrs)

        def flag(name: str) -> bool:
            if name in attrs:
                return attrs[name]
            return getattr(self.instance, name) if self.instance is not None else False

        if flag("is_closed_won") and flag("is_closed_lost"):
            raise serializers.ValidationError({"non_field_errors": [STAGE_BOTH_CLOSED]})
        return attrs


class PipelineSerializer(TenantModelSerializer):
    stages = PipelineStageSerializer(many=True, read_only=True)
    stage_count = serializers.SerializerMethodField()

    class Meta:
        model = Pipeline
        fields = [
            "id",
            "organization",
            "code",
            "name",
            "description",
            "is_active",
            "is_default",
            "created_at",
            "updated_at",
            "stages",
            "stage_count",
        ]
        read_only_fields = ["id", "code", "created_at", "updated_at"]
        # No pre-check for the partial unique "one default" constraint: setting a new default
        # switches it atomically in the service instead of refusing.
        validators = []

    def get_stage_count(self, pipeline: Pipeline) -> int:
        annotated = getattr(pipeline, "stage_count", None)
        return annotated if annotated is not None else len(pipeline.stages.all())
