"""Report query parameters (validated, scoped) and the reports' documented shapes.

A report takes `pipeline`, `from`, `to` and `owner` where they make sense (`group_by` for the
win rate), plus `format` and `organization`. Anything else is a 400, as on lists; a pipeline
or an owner outside the organizations the report reads is a 400 naming the field, exactly
like a missing one.
"""

from rest_framework import serializers

from crmApp.selectors.reports import GROUP_BY, ReportFilters, narrowing

MAX_ID = 2**63 - 1
NOT_FOUND = 'Invalid pk "{pk}" - object does not exist.'
UNKNOWN = "Unknown query parameter."


def _fields() -> dict[str, serializers.Field]:
    return {
        "pipeline": serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False),
        "from": serializers.DateField(required=False, help_text="First day (YYYY-MM-DD)."),
        "to": serializers.DateField(required=False, help_text="Last day (YYYY-MM-DD)."),
        "owner": serializers.IntegerField(
            min_value=1, max_value=MAX_ID, required=False, help_text="Assigned employee id."
        ),
        "group_by": serializers.ChoiceField(choices=GROUP_BY, required=False),
        "format": serializers.ChoiceField(choices=("json", "csv"), required=False),
        "organization": serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False),
    }


class ReportFilterSerializer(serializers.Serializer):
    """The query of a deal report. Needs `organization_ids` (what the caller reads) in context."""

    PARAMS: tuple[str, ...] = ("pipeline", "from", "to", "owner", "format", "organization")

    def get_fields(self):
        fields = _fields()
        return {name: fields[name] for name in self.PARAMS}

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.PARAMS))
        if unknown:
            raise serializers.ValidationError({name: [UNKNOWN] for name in unknown})
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"to": ["Must not be before `from`."]})
        found = narrowing(
            self.context["organization_ids"],
            pipeline_id=attrs.get("pipeline"),
            owner_id=attrs.get("owner"),
        )
        for name, visible in (("pipeline", found.pipeline_found), ("owner", found.owner_found)):
            pk = attrs.get(name)
            if pk is not None and not visible:
                raise serializers.ValidationError({name: [NOT_FOUND.format(pk=pk)]})
        self._stage_ids = found.stage_ids if attrs.get("pipeline") is not None else None
        return attrs

    def filters(self) -> ReportFilters:
        data = self.validated_data
        return ReportFilters(
            organization_ids=frozenset(self.context["organization_ids"]),
            pipeline_id=data.get("pipeline"),
            start=data.get("from"),
            end=data.get("to"),
            owner_id=data.get("owner"),
            group_by=data.get("group_by") or "month",
            stage_ids=self._stage_ids,
        )


class WinRateFilterSerializer(ReportFilterSerializer):
    PARAMS = (*ReportFilterSerializer.PARAMS, "group_by")


class LeadSourceFilterSerializer(ReportFilterSerializer):
    """Leads belong to no pipeline."""

    PARAMS = ("from", "to", "owner", "format", "organization")


# --- documented shapes (the schema and its fuzzing check every answer against them) ---------


def _rate():
    return serializers.FloatField(allow_null=True)


def _money():
    return serializers.CharField(help_text="Decimal with two places.")


class FunnelStageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    order = serializers.IntegerField()
    reached = serializers.IntegerField()
    conversion = _rate()


class FunnelPipelineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    stages = FunnelStageSerializer(many=True)


class FunnelReportSerializer(serializers.Serializer):
    pipelines = FunnelPipelineSerializer(many=True)


class DurationFiguresSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    average_days = serializers.FloatField(allow_null=True)
    median_days = serializers.FloatField(allow_null=True)
    p90_days = serializers.FloatField(allow_null=True)


class TimeInStageRowSerializer(serializers.Serializer):
    stage_id = serializers.IntegerField()
    stage_name = serializers.CharField()
    pipeline_id = serializers.IntegerField()
    pipeline_name = serializers.CharField()
    order = serializers.IntegerField()
    open_deals = DurationFiguresSerializer()
    closed_deals = DurationFiguresSerializer()


class TimeInStageReportSerializer(serializers.Serializer):
    stages = TimeInStageRowSerializer(many=True)


class TallySerializer(serializers.Serializer):
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    closed = serializers.IntegerField()
    win_rate = _rate()


class PeriodTallySerializer(TallySerializer):
    period = serializers.CharField()


class OwnerTallySerializer(TallySerializer):
    owner_id = serializers.IntegerField(allow_null=True)
    owner_name = serializers.CharField(allow_null=True)


class SourceTallySerializer(TallySerializer):
    source = serializers.CharField(allow_null=True)


class WinRateReportSerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=GROUP_BY)
    total = TallySerializer()
    by_period = PeriodTallySerializer(many=True)
    by_owner = OwnerTallySerializer(many=True)
    by_source = SourceTallySerializer(many=True)


class VelocityReportSerializer(serializers.Serializer):
    open_deals = serializers.IntegerField()
    won = serializers.IntegerField()
    closed = serializers.IntegerField()
    win_rate = _rate()
    average_won_value = serializers.CharField(allow_null=True)
    average_cycle_days = serializers.FloatField(allow_null=True)
    velocity_per_day = serializers.CharField(allow_null=True)


class ForecastMonthSerializer(serializers.Serializer):
    month = serializers.CharField(allow_null=True)
    deals = serializers.IntegerField()
    best_case = _money()
    weighted = _money()


class ForecastTotalSerializer(serializers.Serializer):
    deals = serializers.IntegerField()
    best_case = _money()
    weighted = _money()


class ClosedWonSerializer(serializers.Serializer):
    deals = serializers.IntegerField()
    value = _money()


class ForecastReportSerializer(serializers.Serializer):
    months = ForecastMonthSerializer(many=True)
    total = ForecastTotalSerializer()
    closed_won = ClosedWonSerializer()


class LeadSourceRowSerializer(serializers.Serializer):
    source = serializers.CharField()
    label = serializers.CharField()
    leads = serializers.IntegerField()
    conversions = serializers.IntegerField()
    conversion_rate = _rate()


class LeadSourceTotalSerializer(serializers.Serializer):
    leads = serializers.IntegerField()
    conversions = serializers.IntegerField()
    conversion_rate = _rate()


class LeadSourceReportSerializer(serializers.Serializer):
    sources = LeadSourceRowSerializer(many=True)
    total = LeadSourceTotalSerializer()
