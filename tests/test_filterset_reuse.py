"""FilterSets copy their filters shallowly per request (crmApp.filters.base.FilterTemplates).

Pins that each FilterSet instance still gets filters of its own, bound to itself, including a
filter that calls a method of its FilterSet.
"""

import pytest

from crmApp.filters.base import StrictFilterSet, narrowed_filterset
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


NARROWED_QUERIES = [
    {"stage": "3"},
    {"stage": "3", "status": "active", "is_won": "false", "created_after": "2024-01-01"},
    {"stage": "x", "close_before": "soon"},
    {"pipeline": "2", "assigned_to": "0"},
]


@pytest.mark.parametrize("data", NARROWED_QUERIES)
def test_a_filterset_narrowed_to_the_named_filters_filters_as_the_whole_set(data):
    """The backend builds only the filters a query names (`narrowed_filterset`): the same
    SQL, or the same errors, as the whole FilterSet."""
    queryset = Deal.objects.all()
    whole = DealFilterSet(data, queryset=queryset)
    narrowed = narrowed_filterset(DealFilterSet, frozenset(data))(data, queryset=queryset)

    assert set(narrowed.filters) == set(data)
    assert narrowed.is_valid() == whole.is_valid()
    assert narrowed.errors == whole.errors
    if whole.is_valid():
        assert str(narrowed.qs.query) == str(whole.qs.query)
    assert narrowed_filterset(DealFilterSet, frozenset(data)) is type(narrowed)  # built once
