import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from crmApp.filters.base import IdFilter, StrictBooleanFilter, StrictFilterSet
from crmApp.models import Lead
from crmApp.models.base import ActiveStatus


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": 100})
class ScoreFilter(django_filters.NumberFilter):
    """An integer lead score bound (0-100); junk or out-of-range values are a 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", 100)
        super().__init__(*args, **kwargs)


class LeadFilterSet(StrictFilterSet):
    external_id = django_filters.CharFilter(field_name="external_id", max_length=255)
    status = django_filters.ChoiceFilter(choices=ActiveStatus.choices)
    qualification_status = django_filters.ChoiceFilter(choices=Lead.QualificationStatus.choices)
    source = django_filters.ChoiceFilter(choices=Lead.Source.choices)
    assigned_to = IdFilter(field_name="assigned_to_id")
    is_converted = StrictBooleanFilter(field_name="is_converted")
    min_score = ScoreFilter(field_name="lead_score", lookup_expr="gte")
    max_score = ScoreFilter(field_name="lead_score", lookup_expr="lte")
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Lead
        fields = [
            "external_id",
            "status",
            "qualification_status",
            "source",
            "assigned_to",
            "is_converted",
            "min_score",
            "max_score",
            "created_after",
            "created_before",
        ]
