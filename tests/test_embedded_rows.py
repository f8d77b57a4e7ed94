"""Related rows read inside the parent's query (`crmApp.selectors.embedded`) equal the rows
`prefetch_related` reads, field by field and in order, on SQLite and PostgreSQL."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext

from crmApp.models import Deal, PipelineStage
from crmApp.selectors.deals import DealSelector
from tests.factories import DealFactory, PipelineFactory, PipelineStageFactory

pytestmark = pytest.mark.django_db


def field_values(stage: PipelineStage) -> list:
    return [
        (field.attname, getattr(stage, field.attname), type(getattr(stage, field.attname)))
        for field in PipelineStage._meta.concrete_fields
    ]


def prefetched(pk: int) -> Deal:
    return (
        Deal.objects.select_related("pipeline")
        .prefetch_related(
            Prefetch("pipeline__stages", queryset=PipelineStage.objects.order_by("order", "id"))
        )
        .get(pk=pk)
    )


def embedded(pk: int) -> Deal:
    return DealSelector().detail(Deal.objects.filter(pk=pk)).get()


def test_embedded_stages_equal_prefetched_ones_value_by_value():
    pipeline = PipelineFactory()
    stages = [
        PipelineStageFactory(
            pipeline=pipeline,
            order=2,
            probability=Decimal("33.30"),
            description=None,
            rotting_days=None,
        ),
        PipelineStageFactory(
            pipeline=pipeline,
            order=1,
            probability=Decimal("100.00"),
            description="Quote: ' \" ü \\ {}",
            rotting_days=14,
            auto_move_after_days=3,
            is_closed_won=True,
            is_active=False,
        ),
        PipelineStageFactory(pipeline=pipeline, order=1, probability=Decimal("0.05")),
    ]
    deal = DealFactory(organization=pipeline.organization, pipeline=pipeline, stage=stages[0])

    embedded(deal.pk)  # a connection's first JSON query probes SQLite's JSON support once
    with CaptureQueriesContext(connection) as ctx:
        read = embedded(deal.pk)
        got = list(read.pipeline.stages.all())

    expected = list(prefetched(deal.pk).pipeline.stages.all())
    assert [s.pk for s in expected] == [stages[1].pk, stages[2].pk, stages[0].pk]
    assert [field_values(s) for s in got] == [field_values(s) for s in expected]
    assert len(ctx.captured_queries) == 1
    assert [str(s.probability) for s in got] == ["100.00", "0.05", "33.30"]


def test_a_pipeline_without_stages_and_a_deal_without_pipeline():
    empty = PipelineFactory()
    with_empty = DealFactory(organization=empty.organization, pipeline=empty, stage=None)
    without = DealFactory(organization=empty.organization, pipeline=None, stage=None)

    assert list(embedded(with_empty.pk).pipeline.stages.all()) == []
    assert embedded(without.pk).pipeline is None


def test_clones_keep_the_embedded_relation():
    stage = PipelineStageFactory()
    pipeline = stage.pipeline
    deal = DealFactory(organization=pipeline.organization, pipeline=pipeline, stage=stage)
    queryset = DealSelector().detail(Deal.objects.all())

    read = queryset.filter(pk=deal.pk).select_for_update(of=("self",)).order_by("id")
    with transaction.atomic():
        (row,) = list(read)
    assert "stages" in row.pipeline._prefetched_objects_cache
    assert [s.pk for s in row.pipeline.stages.all()] == [stage.pk]
