"""FilterSets copy their filters shallowly per request (crmApp.filters.base.FilterTemplates).

Pins that each FilterSet instance still gets filters of its own, bound to itself, including a
filter that calls a method of its FilterSet.
"""

import pytest

from crmApp.filters.base import StrictFilterSet
from crmApp.filters.deals import DealFilterSet
from crmApp.filters.pipelines import PipelineFilterSet
from crmApp.models import Deal, Pipeline
from tests.factories import PipelineFactory

pytestmark = pytest.mark.django_db


def test_each_filterset_has_its_own_filters_bound_to_itself():
    first = DealFilterSet({}, queryset=Deal.objects.all())
    second = DealFilterSet({}, queryset=Deal.objects.all())

    for name in DealFilterSet.base_filters:
        assert first.filters[name] is not second.filters[name]
        assert first.filters[name].parent is first and second.filters[name].parent is second
        assert getattr(DealFilterSet.base_filters[name], "parent", None) is None


def test_method_filters_call_their_own_filterset(org):
    active = PipelineFactory(organization=org, is_active=True)
    PipelineFactory(organization=org, is_active=False)
    queryset = Pipeline.objects.filter(organization=org)

    only_active = PipelineFilterSet({"active_only": "true"}, queryset=queryset)
    everything = PipelineFilterSet({"active_only": "false"}, queryset=queryset)

    assert list(only_active.qs) == [active]
    assert everything.qs.count() == 2
    method_filter = only_active.filters["active_only"]
    assert method_filter.filter.f is method_filter and method_filter.parent is only_active


#: Query strings with good, empty and bad values for the deal filters.
DEAL_QUERIES = [
    {"stage": "3", "status": "active"},
    {"stage": "x", "min_value": "abc", "is_won": "maybe"},
    {"created_after": "2024-13-01", "assigned_to": "0"},
    {},
]


@pytest.mark.parametrize("data", DEAL_QUERIES)
def test_form_fields_copied_shallowly_clean_as_deep_copies(data):
    """The reused form class copies its fields shallowly (FormFieldTemplates); a form built the
    way django-filter builds it, with deep copies, cleans the same values to the same data and
    errors, and two forms never share a field."""
    data = {k: v for k, v in data.items() if k in DealFilterSet.base_filters}
    reused = DealFilterSet(data, queryset=Deal.objects.none()).form
    other = DealFilterSet(data, queryset=Deal.objects.none()).form
    # django-filter's own form class, built afresh, whose fields Django copies deeply.
    plain_class = super(
        StrictFilterSet, DealFilterSet(queryset=Deal.objects.none())
    ).get_form_class()
    plain = plain_class(data)

    assert reused.is_valid() == plain.is_valid()
    assert reused.errors == plain.errors
    assert getattr(reused, "cleaned_data", None) == getattr(plain, "cleaned_data", None)
    assert all(reused.fields[name] is not other.fields[name] for name in reused.fields)
    assert type(plain_class.base_fields) is dict  # the reference path copies deeply
