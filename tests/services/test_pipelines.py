"""Stage order density, the one-default switch, and both under concurrency (services)."""

import pytest
from django.db import connection

from crmApp.errors import InvalidInput
from crmApp.models import Pipeline, PipelineStage
from crmApp.services.pipelines import (
    pipeline_create,
    pipeline_set_default,
    pipeline_update,
    stage_create,
    stage_delete,
    stage_move,
    stage_update,
)
from tests.concurrency import run_concurrently
from tests.factories import OrganizationFactory, PipelineFactory, PipelineStageFactory


@pytest.fixture
def organization(db):
    return OrganizationFactory(rbac=False)


def orders(pipeline) -> list[tuple[str, int]]:
    return list(
        PipelineStage.objects.filter(pipeline=pipeline)
        .order_by("order", "id")
        .values_list("name", "order")
    )


def defaults(organization) -> list[int]:
    return list(
        Pipeline.objects.filter(organization=organization, is_default=True).values_list(
            "pk", flat=True
        )
    )


def test_stage_create_appends_and_repairs_a_sparse_sequence(organization):
    pipeline = PipelineFactory(organization=organization)
    PipelineStageFactory(pipeline=pipeline, name="A", order=3)
    PipelineStageFactory(pipeline=pipeline, name="B", order=9)

    stage = stage_create(actor=None, pipeline=pipeline, name="C")

    assert stage.order == 2
    assert orders(pipeline) == [("A", 0), ("B", 1), ("C", 2)]


def test_stage_create_at_front(organization):
    pipeline = PipelineFactory(organization=organization)
    stage_create(actor=None, pipeline=pipeline, name="A")
    stage_create(actor=None, pipeline=pipeline, name="B")

    stage_create(actor=None, pipeline=pipeline, name="Z", order=0)

    assert orders(pipeline) == [("Z", 0), ("A", 1), ("B", 2)]


def test_stage_create_at_a_negative_order_changes_nothing(organization):
    pipeline = PipelineFactory(organization=organization)
    stage_create(actor=None, pipeline=pipeline, name="A")

    with pytest.raises(InvalidInput):
        stage_create(actor=None, pipeline=pipeline, name="B", order=-1)

    assert orders(pipeline) == [("A", 0)]


def test_stage_create_past_the_end_appends(organization):
    pipeline = PipelineFactory(organization=organization)
    stage_create(actor=None, pipeline=pipeline, name="A")

    stage = stage_create(actor=None, pipeline=pipeline, name="B", order=5)

    assert stage.order == 1
    assert orders(pipeline) == [("A", 0), ("B", 1)]


@pytest.mark.parametrize(
    ("name", "position", "expected"),
    [
        ("A", 3, "BCDA"),
        ("D", 0, "DABC"),
        ("B", 2, "ACBD"),
        ("C", 1, "ACBD"),
        ("B", 1, "ABCD"),
    ],
)
def test_stage_move_keeps_a_dense_sequence(organization, name, position, expected):
    pipeline = PipelineFactory(organization=organization)
    stages = {n: stage_create(actor=None, pipeline=pipeline, name=n) for n in "ABCD"}

    moved = stage_move(stage=stages[name], order=position)

    assert moved.order == position
    assert orders(pipeline) == [(n, i) for i, n in enumerate(expected)]


@pytest.mark.parametrize("position", [-1, 2, 10**9])
def test_stage_move_out_of_range_is_refused(organization, position):
    pipeline = PipelineFactory(organization=organization)
    first = stage_create(actor=None, pipeline=pipeline, name="A")
    stage_create(actor=None, pipeline=pipeline, name="B")

    with pytest.raises(InvalidInput):
        stage_move(stage=first, order=position)

    assert orders(pipeline) == [("A", 0), ("B", 1)]


def test_stage_update_renames_and_moves(organization):
    pipeline = PipelineFactory(organization=organization)
    stage_create(actor=None, pipeline=pipeline, name="A")
    b = stage_create(actor=None, pipeline=pipeline, name="B")

    stage_update(actor=None, stage=b, order=0, name="B2")

    assert orders(pipeline) == [("B2", 0), ("A", 1)]


def test_stage_delete_closes_the_gap(organization):
    pipeline = PipelineFactory(organization=organization)
    a = stage_create(actor=None, pipeline=pipeline, name="A")
    stage_create(actor=None, pipeline=pipeline, name="B")
    stage_create(actor=None, pipeline=pipeline, name="C")

    stage_delete(actor=None, stage=a)

    assert orders(pipeline) == [("B", 0), ("C", 1)]


def test_set_default_switches_within_the_organization_only(organization):
    other = OrganizationFactory(rbac=False)
    old = PipelineFactory(organization=organization, is_default=True)
    new = PipelineFactory(organization=organization)
    foreign = PipelineFactory(organization=other, is_default=True)

    result = pipeline_set_default(pipeline=new)

    assert result.is_default is True
    assert defaults(organization) == [new.pk]
    assert defaults(other) == [foreign.pk]
    old.refresh_from_db()
    assert old.is_default is False


def test_create_and_update_with_is_default_use_the_switch(organization):
    first = pipeline_create(actor=None, organization=organization, name="First", is_default=True)
    second = pipeline_create(actor=None, organization=organization, name="Second", is_default=True)
    assert defaults(organization) == [second.pk]

    pipeline_update(actor=None, pipeline=first, is_default=True, name="First again")

    assert defaults(organization) == [first.pk]
    first.refresh_from_db()
    assert first.name == "First again"


def run_threads(targets) -> list:
    """Each call's outcome: "ok", or the exception that escaped."""
    return [r if isinstance(r, Exception) else "ok" for r in run_concurrently(targets)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_set_default_leaves_exactly_one_default():
    if connection.vendor != "postgresql":
        pytest.skip("real row locks need PostgreSQL")
    organization = OrganizationFactory(rbac=False)
    pipelines = [PipelineFactory(organization=organization) for _ in range(8)]

    results = run_threads(
        [
            lambda pk=p.pk: pipeline_set_default(
                pipeline=Pipeline(pk=pk, organization_id=organization.pk)
            )
            for p in pipelines
        ]
    )

    assert results == ["ok"] * 8
    assert len(defaults(organization)) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_default_creates_leave_exactly_one_default():
    if connection.vendor != "postgresql":
        pytest.skip("real row locks need PostgreSQL")
    organization = OrganizationFactory(rbac=False)
    PipelineFactory(organization=organization, is_default=True)

    results = run_threads(
        [
            lambda n=n: pipeline_create(
                actor=None, organization=organization, name=f"P{n}", is_default=True
            )
            for n in range(8)
        ]
    )

    assert results == ["ok"] * 8
    assert len(defaults(organization)) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_stage_creates_keep_orders_dense():
    if connection.vendor != "postgresql":
        pytest.skip("real row locks need PostgreSQL")
    pipeline = PipelineFactory(organization=OrganizationFactory(rbac=False))

    results = run_threads(
        [lambda n=n: stage_create(actor=None, pipeline=pipeline, name=f"S{n}") for n in range(8)]
    )

    assert results == ["ok"] * 8
    assert [order for _, order in orders(pipeline)] == list(range(8))
