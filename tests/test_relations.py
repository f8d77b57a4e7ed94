"""crmApp.selectors.relations: when a written instance may be served without reading it again."""

import pytest
from django.db.models import Count, Prefetch

from crmApp.models import Deal, PipelineStage
from crmApp.selectors.relations import carry_loaded_relations, relations_loaded
from tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    PipelineFactory,
    PipelineStageFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(org):
    pipeline = PipelineFactory(organization=org)
    return DealFactory(
        organization=org,
        customer=CustomerFactory(organization=org),  # no assignee: a null key needs nothing
        pipeline=pipeline,
        stage=PipelineStageFactory(pipeline=pipeline),
        assigned_to=EmployeeFactory(organization=org, manager=EmployeeFactory(organization=org)),
    )


def detail_queryset(deal):
    return (
        Deal.objects.filter(pk=deal.pk)
        .select_related("customer__assigned_to", "pipeline", "stage", "assigned_to__manager")
        .prefetch_related(Prefetch("pipeline__stages", queryset=PipelineStage.objects.all()))
    )


def test_a_row_read_with_the_joins_holds_them_a_bare_one_does_not(deal):
    queryset = detail_queryset(deal)

    assert relations_loaded(queryset.get(), queryset) is True
    assert relations_loaded(Deal.objects.get(pk=deal.pk), queryset) is False
    partly = Deal.objects.select_related("customer", "pipeline", "stage", "assigned_to").get()
    assert relations_loaded(partly, queryset) is False  # no manager, no stages


def test_annotations_always_need_a_read(deal):
    queryset = detail_queryset(deal).annotate(stage_total=Count("pipeline__stages"))

    assert relations_loaded(detail_queryset(deal).get(), queryset) is False


def test_relations_carry_over_only_where_the_row_still_points(deal, org):
    loaded = detail_queryset(deal).get()
    moved = Deal.objects.get(pk=deal.pk)
    moved.assigned_to_id = EmployeeFactory(organization=org).pk

    carry_loaded_relations(loaded, moved)

    assert moved.customer is loaded.customer and moved.pipeline is loaded.pipeline
    assert not Deal._meta.get_field("assigned_to").is_cached(moved)
