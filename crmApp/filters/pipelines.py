from crmApp.filters.base import IdFilter, StrictBooleanFilter, StrictFilterSet
from crmApp.models import Pipeline, PipelineStage


class PipelineFilterSet(StrictFilterSet):
    active_only = StrictBooleanFilter(method="filter_active_only")
    is_active = StrictBooleanFilter(field_name="is_active")
    is_default = StrictBooleanFilter(field_name="is_default")

    class Meta:
        model = Pipeline
        fields = ["active_only", "is_active", "is_default"]

    def filter_active_only(self, queryset, name, value):
        # `active_only=false` means "no restriction", not "inactive only".
        return queryset.filter(is_active=True) if value else queryset


class PipelineStageFilterSet(StrictFilterSet):
    pipeline = IdFilter(field_name="pipeline_id")
    is_active = StrictBooleanFilter(field_name="is_active")

    class Meta:
        model = PipelineStage
        fields = ["pipeline", "is_active"]
