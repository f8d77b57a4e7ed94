"""FilterSets copy their filters shallowly per request (crmApp.filters.base.FilterTemplates).

Pins that each FilterSet instance still gets filters of its own, bound to itself, including a
filter that calls a method of its FilterSet.
"""

import pytest

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
