"""Pipelines and stages: CRUD, default switch, dense stage orders, tenancy, RBAC."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import Deal, Pipeline, PipelineStage
from tests.factories import (
    DealFactory,
    MembershipFactory,
    PipelineFactory,
    PipelineStageFactory,
)

pytestmark = pytest.mark.django_db

PIPELINES = "/api/pipelines/"
STAGES = "/api/pipeline-stages/"

PIPELINE_KEYS = [
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
STAGE_KEYS = [
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


def stage_orders(pipeline) -> list[tuple[str, int]]:
    return list(
        PipelineStage.objects.filter(pipeline=pipeline)
        .order_by("order", "id")
        .values_list("name", "order")
    )


def make_stages(pipeline, *names: str) -> list[PipelineStage]:
    return [
        PipelineStageFactory(pipeline=pipeline, name=name, order=position)
        for position, name in enumerate(names)
    ]


def defaults_of(organization) -> list[int]:
    return list(
        Pipeline.objects.filter(organization=organization, is_default=True).values_list(
            "pk", flat=True
        )
    )


# --- pipelines: create / read / update / delete ---------------------------------------------


def test_create_pipeline_answers_full_representation(owner, org):
    response = owner.client.post(
        PIPELINES, {"organization": org.pk, "name": "Sales", "description": "Main"}
    )

    assert response.status_code == 201, response.data
    assert list(response.data) == PIPELINE_KEYS
    pipeline = Pipeline.objects.get(pk=response.data["id"])
    assert response.data["organization"] == org.pk
    assert response.data["code"] == "PIP-000001" == pipeline.code
    assert response.data["name"] == "Sales"
    assert response.data["description"] == "Main"
    assert response.data["is_active"] is True
    assert response.data["is_default"] is False
    assert response.data["stages"] == []
    assert response.data["stage_count"] == 0


def test_create_pipeline_without_organization_uses_the_only_membership(owner, org):
    response = owner.client.post(PIPELINES, {"name": "Sales"})

    assert response.status_code == 201, response.data
    assert Pipeline.objects.get(pk=response.data["id"]).organization_id == org.pk


def test_create_pipeline_in_foreign_organization_is_400(owner, other_org):
    response = owner.client.post(PIPELINES, {"organization": other_org.pk, "name": "Sales"})

    assert response.status_code == 400
    assert "organization" in response.data["details"]
    assert not Pipeline.objects.exists()


def test_create_pipeline_requires_name(owner, org):
    response = owner.client.post(PIPELINES, {"organization": org.pk})

    assert response.status_code == 400
    assert response.data["details"] == {"name": ["This field is required."]}


def test_create_default_pipeline_takes_the_default_over(owner, org):
    old = PipelineFactory(organization=org, is_default=True)

    response = owner.client.post(
        PIPELINES, {"organization": org.pk, "name": "New", "is_default": True}
    )

    assert response.status_code == 201, response.data
    assert response.data["is_default"] is True
    assert defaults_of(org) == [response.data["id"]]
    old.refresh_from_db()
    assert old.is_default is False


def test_update_pipeline_with_is_default_switches_the_default(owner, org, other_org):
    old = PipelineFactory(organization=org, is_default=True)
    new = PipelineFactory(organization=org)
    foreign_default = PipelineFactory(organization=other_org, is_default=True)

    response = owner.client.patch(f"{PIPELINES}{new.pk}/", {"is_default": True})

    assert response.status_code == 200, response.data
    assert response.data["is_default"] is True
    assert defaults_of(org) == [new.pk]
    assert defaults_of(other_org) == [foreign_default.pk]
    old.refresh_from_db()
    assert old.is_default is False


def test_unsetting_the_default_leaves_no_default(owner, org):
    pipeline = PipelineFactory(organization=org, is_default=True)

    response = owner.client.patch(f"{PIPELINES}{pipeline.pk}/", {"is_default": False})

    assert response.status_code == 200
    assert defaults_of(org) == []


def test_update_pipeline_answers_full_representation(owner, org):
    pipeline = PipelineFactory(organization=org, name="Old")
    make_stages(pipeline, "Lead", "Won")

    response = owner.client.put(
        f"{PIPELINES}{pipeline.pk}/", {"name": "New", "is_active": False}, format="json"
    )

    assert response.status_code == 200, response.data
    assert list(response.data) == PIPELINE_KEYS
    assert response.data["name"] == "New"
    assert response.data["is_active"] is False
    assert response.data["stage_count"] == 2
    assert [s["name"] for s in response.data["stages"]] == ["Lead", "Won"]


def test_pipeline_cannot_move_to_another_organization(owner, org, other_org):
    pipeline = PipelineFactory(organization=org)
    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)

    response = owner.client.patch(f"{PIPELINES}{pipeline.pk}/", {"organization": other_org.pk})

    assert response.status_code == 400
    assert response.data["details"] == {
        "organization": ["The organization of a record cannot be changed."]
    }
    pipeline.refresh_from_db()
    assert pipeline.organization_id == org.pk


def test_retrieve_pipeline_shows_stages_by_order(owner, org):
    pipeline = PipelineFactory(organization=org)
    PipelineStageFactory(pipeline=pipeline, name="Third", order=2)
    PipelineStageFactory(pipeline=pipeline, name="First", order=0)
    PipelineStageFactory(pipeline=pipeline, name="Second", order=1)

    response = owner.client.get(f"{PIPELINES}{pipeline.pk}/")

    assert response.status_code == 200
    assert [s["name"] for s in response.data["stages"]] == ["First", "Second", "Third"]
    assert list(response.data["stages"][0]) == STAGE_KEYS
    assert response.data["stage_count"] == 3


def test_delete_pipeline_removes_stages_and_detaches_deals(owner, org):
    deal = DealFactory(organization=org)
    pipeline = deal.pipeline

    response = owner.client.delete(f"{PIPELINES}{pipeline.pk}/")

    assert response.status_code == 204
    assert not Pipeline.objects.filter(pk=pipeline.pk).exists()
    assert not PipelineStage.objects.filter(pipeline_id=pipeline.pk).exists()
    deal.refresh_from_db()
    assert (deal.pipeline_id, deal.stage_id) == (None, None)


# --- pipelines: list, filters, ordering -------------------------------------------------------


def test_list_pipelines_in_id_order_with_stages(owner, org, other_org):
    first = PipelineFactory(organization=org, name="B")
    second = PipelineFactory(organization=org, name="A")
    make_stages(first, "One", "Two")
    PipelineFactory(organization=other_org)

    response = owner.client.get(PIPELINES)

    assert response.status_code == 200
    assert response.data["count"] == 2
    rows = response.data["results"]
    assert [row["id"] for row in rows] == [first.pk, second.pk]
    assert [(row["stage_count"], len(row["stages"])) for row in rows] == [(2, 2), (0, 0)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("active_only=true", ["active", "default"]),
        ("active_only=TRUE", ["active", "default"]),
        ("active_only=false", ["active", "inactive", "default"]),
        ("active_only=", ["active", "inactive", "default"]),
        ("is_active=false", ["inactive"]),
        ("is_active=true&is_default=false", ["active"]),
        ("is_default=1", ["default"]),
        ("is_default=0", ["active", "inactive"]),
    ],
)
def test_pipeline_filters(owner, org, query, expected):
    PipelineFactory(organization=org, name="active")
    PipelineFactory(organization=org, name="inactive", is_active=False)
    PipelineFactory(organization=org, name="default", is_default=True)

    response = owner.client.get(f"{PIPELINES}?{query}")

    assert response.status_code == 200
    assert [row["name"] for row in response.data["results"]] == expected


@pytest.mark.parametrize(
    "query", ["active_only=yes", "is_default=maybe", "organization=abc", "colour=red"]
)
def test_pipeline_bad_filters_are_400(owner, org, query):
    response = owner.client.get(f"{PIPELINES}?{query}")

    assert response.status_code == 400
    assert response.data["error"] == "An error occurred"


def test_pipeline_organization_narrowing(owner, org, other_org):
    PipelineFactory(organization=org)

    assert owner.client.get(f"{PIPELINES}?organization={org.pk}").data["count"] == 1
    assert owner.client.get(f"{PIPELINES}?organization={other_org.pk}").data["count"] == 0


def test_pipeline_ordering(owner, org):
    b = PipelineFactory(organization=org, name="b")
    a = PipelineFactory(organization=org, name="a")

    response = owner.client.get(f"{PIPELINES}?ordering=-name")
    assert [row["id"] for row in response.data["results"]] == [b.pk, a.pk]
    response = owner.client.get(f"{PIPELINES}?ordering=name")
    assert [row["id"] for row in response.data["results"]] == [a.pk, b.pk]
    response = owner.client.get(f"{PIPELINES}?ordering=stage_count")
    assert response.status_code == 400
    assert response.data["details"] == {"ordering": ["Unknown ordering field: stage_count."]}


def test_pipeline_list_query_count_is_constant(owner, org):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = owner.client.get(f"{PIPELINES}?page_size=100")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    make_stages(PipelineFactory(organization=org), "a", "b", "c")
    one = count_queries()
    for _ in range(49):
        make_stages(PipelineFactory(organization=org), "a", "b", "c")
    fifty = count_queries()

    assert one == fifty


# --- set_default ------------------------------------------------------------------------------


def test_set_default_makes_exactly_one_default(owner, org, other_org):
    old = PipelineFactory(organization=org, is_default=True)
    new = PipelineFactory(organization=org)
    foreign = PipelineFactory(organization=other_org, is_default=True)

    response = owner.client.post(f"{PIPELINES}{new.pk}/set_default/")

    assert response.status_code == 200, response.data
    assert response.data["message"] == "Pipeline set as default."
    assert list(response.data["pipeline"]) == PIPELINE_KEYS
    assert response.data["pipeline"]["id"] == new.pk
    assert response.data["pipeline"]["is_default"] is True
    assert defaults_of(org) == [new.pk]
    assert defaults_of(other_org) == [foreign.pk]
    old.refresh_from_db()
    assert old.is_default is False


def test_set_default_twice_is_idempotent(owner, org):
    pipeline = PipelineFactory(organization=org, is_default=True)

    response = owner.client.post(f"{PIPELINES}{pipeline.pk}/set_default/")

    assert response.status_code == 200
    assert defaults_of(org) == [pipeline.pk]


def test_foreign_pipeline_is_not_found_everywhere(owner, other_org):
    foreign = PipelineFactory(organization=other_org, name="Theirs")
    url = f"{PIPELINES}{foreign.pk}/"

    assert owner.client.get(url).status_code == 404
    response = owner.client.patch(url, {"name": "Mine"})
    assert response.status_code == 404
    assert response.data["details"] == "No Pipeline matches the given query."
    assert owner.client.delete(url).status_code == 404
    assert owner.client.post(f"{url}set_default/").status_code == 404
    assert owner.client.get(PIPELINES).data["count"] == 0
    foreign.refresh_from_db()
    assert (foreign.name, foreign.is_default) == ("Theirs", False)


# --- pipelines: permissions -------------------------------------------------------------------


def test_viewer_reads_pipelines_but_cannot_write(viewer, org):
    pipeline = PipelineFactory(organization=org, name="Keep")

    assert viewer.client.get(PIPELINES).data["count"] == 1
    assert viewer.client.post(PIPELINES, {"organization": org.pk, "name": "X"}).status_code == 403
    assert viewer.client.patch(f"{PIPELINES}{pipeline.pk}/", {"name": "X"}).status_code == 403
    assert viewer.client.post(f"{PIPELINES}{pipeline.pk}/set_default/").status_code == 403
    assert viewer.client.delete(f"{PIPELINES}{pipeline.pk}/").status_code == 403
    pipeline.refresh_from_db()
    assert (pipeline.name, pipeline.is_default) == ("Keep", False)
    assert Pipeline.objects.count() == 1


def test_sales_reads_pipelines_but_cannot_create_them(sales, org):
    assert sales.client.get(PIPELINES).status_code == 200
    response = sales.client.post(PIPELINES, {"organization": org.pk, "name": "X"})
    assert response.status_code == 403
    assert not Pipeline.objects.exists()


def test_manager_manages_pipelines(manager, org):
    response = manager.client.post(PIPELINES, {"organization": org.pk, "name": "X"})
    assert response.status_code == 201
    pk = response.data["id"]
    assert manager.client.post(f"{PIPELINES}{pk}/set_default/").status_code == 200
    assert manager.client.delete(f"{PIPELINES}{pk}/").status_code == 204


def test_member_without_role_cannot_list_pipelines(no_role, org):
    PipelineFactory(organization=org)

    response = no_role.client.get(PIPELINES)

    assert response.status_code == 403


# --- stages: create ---------------------------------------------------------------------------


def test_create_stage_appends_at_the_end(owner, org):
    pipeline = PipelineFactory(organization=org)
    make_stages(pipeline, "Lead", "Proposal")

    response = owner.client.post(
        STAGES, {"pipeline": pipeline.pk, "name": "Won", "probability": "100"}
    )

    assert response.status_code == 201, response.data
    assert list(response.data) == STAGE_KEYS
    assert response.data["pipeline"] == pipeline.pk
    assert response.data["order"] == 2
    assert response.data["probability"] == "100.00"
    assert response.data["is_active"] is True
    assert response.data["auto_move_after_days"] is None
    assert stage_orders(pipeline) == [("Lead", 0), ("Proposal", 1), ("Won", 2)]


def test_create_first_stage_gets_order_zero(owner, org):
    pipeline = PipelineFactory(organization=org)

    response = owner.client.post(STAGES, {"pipeline": pipeline.pk, "name": "Lead"})

    assert response.status_code == 201
    assert response.data["order"] == 0
    assert response.data["probability"] == "0.00"


def test_create_stage_at_a_position_shifts_the_others(owner, org):
    pipeline = PipelineFactory(organization=org)
    make_stages(pipeline, "Lead", "Won")

    response = owner.client.post(STAGES, {"pipeline": pipeline.pk, "name": "Mid", "order": 1})

    assert response.status_code == 201, response.data
    assert response.data["order"] == 1
    assert stage_orders(pipeline) == [("Lead", 0), ("Mid", 1), ("Won", 2)]


@pytest.mark.parametrize("order", [-1, "x"])
def test_create_stage_with_bad_order_is_400(owner, org, order):
    pipeline = PipelineFactory(organization=org)
    make_stages(pipeline, "Lead", "Won")

    response = owner.client.post(STAGES, {"pipeline": pipeline.pk, "name": "Mid", "order": order})

    assert response.status_code == 400
    assert "order" in response.data["details"]
    assert stage_orders(pipeline) == [("Lead", 0), ("Won", 1)]


def test_duplicate_stage_name_in_a_pipeline_is_400(owner, org):
    pipeline = PipelineFactory(organization=org)
    make_stages(pipeline, "Lead")

    response = owner.client.post(STAGES, {"pipeline": pipeline.pk, "name": "Lead"})

    assert response.status_code == 400
    assert response.data["details"] == {
        "non_field_errors": ["The fields pipeline, name must make a unique set."]
    }
    assert PipelineStage.objects.filter(pipeline=pipeline).count() == 1


def test_same_stage_name_in_another_pipeline_is_fine(owner, org):
    make_stages(PipelineFactory(organization=org), "Lead")
    other = PipelineFactory(organization=org)

    response = owner.client.post(STAGES, {"pipeline": other.pk, "name": "Lead"})

    assert response.status_code == 201


def test_create_stage_in_foreign_pipeline_is_400(owner, other_org):
    foreign = PipelineFactory(organization=other_org)

    response = owner.client.post(STAGES, {"pipeline": foreign.pk, "name": "Sneaky"})

    assert response.status_code == 400
    assert response.data["details"] == {
        "pipeline": [f'Invalid pk "{foreign.pk}" - object does not exist.']
    }
    assert not PipelineStage.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X"}, "pipeline"),
        ({"pipeline": "abc", "name": "X"}, "pipeline"),
        ({"pipeline": "PIPELINE", "name": ""}, "name"),
        ({"pipeline": "PIPELINE", "name": "X", "probability": "101"}, "probability"),
        ({"pipeline": "PIPELINE", "name": "X", "probability": "-1"}, "probability"),
        (
            {"pipeline": "PIPELINE", "name": "X", "auto_move_after_days": 10**12},
            "auto_move_after_days",
        ),
    ],
)
def test_create_stage_bad_input_is_400(owner, org, body, field):
    pipeline = PipelineFactory(organization=org)
    body = {key: pipeline.pk if value == "PIPELINE" else value for key, value in body.items()}

    response = owner.client.post(STAGES, body)

    assert response.status_code == 400
    assert field in response.data["details"]
    assert not PipelineStage.objects.exists()


def test_stage_cannot_be_both_closed_won_and_lost(owner, org):
    pipeline = PipelineFactory(organization=org)

    response = owner.client.post(
        STAGES,
        {"pipeline": pipeline.pk, "name": "X", "is_closed_won": True, "is_closed_lost": True},
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "non_field_errors": ["A stage cannot be both closed-won and closed-lost."]
    }


# --- stages: update / delete ------------------------------------------------------------------


def test_update_stage_fields(owner, org):
    pipeline = PipelineFactory(organization=org)
    lead, won = make_stages(pipeline, "Lead", "Won")

    response = owner.client.patch(
        f"{STAGES}{won.pk}/", {"is_closed_won": True, "probability": "100"}
    )

    assert response.status_code == 200, response.data
    assert response.data["is_closed_won"] is True
    assert response.data["probability"] == "100.00"
    assert stage_orders(pipeline) == [("Lead", 0), ("Won", 1)]


def test_update_stage_order_moves_it(owner, org):
    pipeline = PipelineFactory(organization=org)
    _, _, c = make_stages(pipeline, "A", "B", "C")

    response = owner.client.patch(f"{STAGES}{c.pk}/", {"order": 0, "name": "C2"})

    assert response.status_code == 200, response.data
    assert response.data["order"] == 0
    assert stage_orders(pipeline) == [("C2", 0), ("A", 1), ("B", 2)]


def test_stage_cannot_move_to_another_pipeline(owner, org):
    pipeline = PipelineFactory(organization=org)
    other = PipelineFactory(organization=org)
    (stage,) = make_stages(pipeline, "Lead")

    response = owner.client.patch(f"{STAGES}{stage.pk}/", {"pipeline": other.pk})

    assert response.status_code == 400
    assert response.data["details"] == {
        "pipeline": ["A stage cannot be moved to another pipeline."]
    }
    stage.refresh_from_db()
    assert stage.pipeline_id == pipeline.pk


def test_update_stage_with_foreign_pipeline_is_400(owner, org, other_org):
    (stage,) = make_stages(PipelineFactory(organization=org), "Lead")
    foreign = PipelineFactory(organization=other_org)

    response = owner.client.patch(f"{STAGES}{stage.pk}/", {"pipeline": foreign.pk})

    assert response.status_code == 400
    assert response.data["details"] == {
        "pipeline": [f'Invalid pk "{foreign.pk}" - object does not exist.']
    }
    stage.refresh_from_db()
    assert stage.pipeline.organization_id == org.pk


def test_put_stage_with_its_own_pipeline_is_fine(owner, org):
    pipeline = PipelineFactory(organization=org)
    (stage,) = make_stages(pipeline, "Lead")

    response = owner.client.put(
        f"{STAGES}{stage.pk}/", {"pipeline": pipeline.pk, "name": "Renamed"}, format="json"
    )

    assert response.status_code == 200, response.data
    assert response.data["name"] == "Renamed"


def test_rename_stage_to_existing_name_is_400(owner, org):
    pipeline = PipelineFactory(organization=org)
    _, b = make_stages(pipeline, "A", "B")

    response = owner.client.patch(f"{STAGES}{b.pk}/", {"name": "A"})

    assert response.status_code == 400
    assert response.data["details"] == {
        "non_field_errors": ["The fields pipeline, name must make a unique set."]
    }


def test_delete_stage_closes_the_gap(owner, org):
    pipeline = PipelineFactory(organization=org)
    _, b, _ = make_stages(pipeline, "A", "B", "C")

    response = owner.client.delete(f"{STAGES}{b.pk}/")

    assert response.status_code == 204
    assert stage_orders(pipeline) == [("A", 0), ("C", 1)]


def test_stages_numbered_from_one_into_an_empty_pipeline_are_appended(owner, org):
    pipeline = PipelineFactory(organization=org)

    answers = [
        owner.client.post(STAGES, {"pipeline": pipeline.pk, "name": name, "order": order})
        for order, name in ((1, "Lead"), (2, "Proposal"), (3, "Won"))
    ]

    assert [(a.status_code, a.data["order"]) for a in answers] == [(201, 0), (201, 1), (201, 2)]
    assert stage_orders(pipeline) == [("Lead", 0), ("Proposal", 1), ("Won", 2)]


def test_create_stage_far_past_the_end_appends(owner, org):
    pipeline = PipelineFactory(organization=org)
    make_stages(pipeline, "Lead", "Won")

    response = owner.client.post(STAGES, {"pipeline": pipeline.pk, "name": "Late", "order": 99})

    assert (response.status_code, response.data["order"]) == (201, 2)
    assert stage_orders(pipeline) == [("Lead", 0), ("Won", 1), ("Late", 2)]


def test_deleting_a_stage_that_holds_deals_is_refused_without_move_to(owner, org):
    pipeline = PipelineFactory(organization=org)
    lead, _ = make_stages(pipeline, "Lead", "Won")
    deals = DealFactory.create_batch(2, organization=org, pipeline=pipeline, stage=lead)

    response = owner.client.delete(f"{STAGES}{lead.pk}/")

    message = (
        "This stage holds 2 deals; name a `move_to` stage of the same pipeline to move them "
        "there before deleting it."
    )
    assert response.status_code == 409
    assert response.json() == {"error": message, "details": {"detail": message}, "status_code": 409}
    assert stage_orders(pipeline) == [("Lead", 0), ("Won", 1)]
    assert sorted(Deal.objects.filter(stage=lead).values_list("pk", flat=True)) == sorted(
        d.pk for d in deals
    )


@pytest.mark.parametrize("how", ["query", "body"])
def test_deleting_a_stage_with_move_to_moves_its_deals_and_records_it(owner, org, how):
    from crmApp.models import DealStageHistory

    pipeline = PipelineFactory(organization=org)
    lead, proposal, _ = make_stages(pipeline, "Lead", "Proposal", "Won")
    proposal.probability = 40
    proposal.save()
    deals = DealFactory.create_batch(2, organization=org, pipeline=pipeline, stage=lead)

    if how == "query":
        response = owner.client.delete(f"{STAGES}{lead.pk}/?move_to={proposal.pk}")
    else:
        response = owner.client.delete(
            f"{STAGES}{lead.pk}/", {"move_to": proposal.pk}, format="json"
        )

    assert response.status_code == 204
    assert stage_orders(pipeline) == [("Proposal", 0), ("Won", 1)]
    moved = Deal.objects.filter(pk__in=[d.pk for d in deals]).order_by("pk")
    assert [(d.stage_id, d.probability) for d in moved] == [(proposal.pk, 40), (proposal.pk, 40)]
    history = DealStageHistory.objects.filter(deal__in=deals, left_at__isnull=True)
    assert sorted(history.values_list("stage_id", "actor_id")) == [
        (proposal.pk, owner.user.pk),
        (proposal.pk, owner.user.pk),
    ]


@pytest.mark.parametrize("target", ["itself", "other_pipeline", "missing", "bad"])
def test_delete_stage_with_a_bad_move_to_is_400_and_changes_nothing(owner, org, target):
    pipeline = PipelineFactory(organization=org)
    lead, _ = make_stages(pipeline, "Lead", "Won")
    (elsewhere,) = make_stages(PipelineFactory(organization=org), "Elsewhere")
    deal = DealFactory(organization=org, pipeline=pipeline, stage=lead)
    move_to = {
        "itself": lead.pk,
        "other_pipeline": elsewhere.pk,
        "missing": 10**9,
        "bad": "x",
    }[target]

    response = owner.client.delete(f"{STAGES}{lead.pk}/?move_to={move_to}")

    assert response.status_code == 400
    assert list(response.data["details"]) == ["move_to"]
    assert stage_orders(pipeline) == [("Lead", 0), ("Won", 1)]
    assert Deal.objects.get(pk=deal.pk).stage_id == lead.pk


def test_deleting_an_empty_stage_needs_no_move_to(owner, org):
    pipeline = PipelineFactory(organization=org)
    lead, won = make_stages(pipeline, "Lead", "Won")
    DealFactory(organization=org, pipeline=pipeline, stage=won)

    assert owner.client.delete(f"{STAGES}{lead.pk}/").status_code == 204
    assert stage_orders(pipeline) == [("Won", 0)]


# --- stages: reorder --------------------------------------------------------------------------


def test_reorder_moves_a_stage_down_and_shifts_the_others(owner, org):
    pipeline = PipelineFactory(organization=org)
    a, _, _, _ = make_stages(pipeline, "A", "B", "C", "D")

    response = owner.client.post(f"{STAGES}{a.pk}/reorder/", {"order": 2})

    assert response.status_code == 200, response.data
    assert response.data["message"] == "Stage reordered successfully."
    assert list(response.data["stage"]) == STAGE_KEYS
    assert response.data["stage"]["id"] == a.pk
    assert response.data["stage"]["order"] == 2
    assert stage_orders(pipeline) == [("B", 0), ("C", 1), ("A", 2), ("D", 3)]


def test_reorder_moves_a_stage_up(owner, org):
    pipeline = PipelineFactory(organization=org)
    _, _, _, d = make_stages(pipeline, "A", "B", "C", "D")

    response = owner.client.post(f"{STAGES}{d.pk}/reorder/", {"order": "0"})

    assert response.status_code == 200
    assert stage_orders(pipeline) == [("D", 0), ("A", 1), ("B", 2), ("C", 3)]


def test_reorder_repairs_sparse_and_duplicate_orders(owner, org):
    pipeline = PipelineFactory(organization=org)
    a = PipelineStageFactory(pipeline=pipeline, name="A", order=5)
    PipelineStageFactory(pipeline=pipeline, name="B", order=5)
    PipelineStageFactory(pipeline=pipeline, name="C", order=40)

    response = owner.client.post(f"{STAGES}{a.pk}/reorder/", {"order": 2})

    assert response.status_code == 200
    assert stage_orders(pipeline) == [("B", 0), ("C", 1), ("A", 2)]


def test_reorder_without_order_is_400(owner, org):
    pipeline = PipelineFactory(organization=org)
    a, _ = make_stages(pipeline, "A", "B")

    response = owner.client.post(f"{STAGES}{a.pk}/reorder/", {})

    assert response.status_code == 400
    assert response.data["error"] == "order is required"
    assert stage_orders(pipeline) == [("A", 0), ("B", 1)]


@pytest.mark.parametrize("order", ["abc", 1.5, True, [1], 2, -1, 10**30])
def test_reorder_with_bad_order_is_400(owner, org, order):
    pipeline = PipelineFactory(organization=org)
    a, _ = make_stages(pipeline, "A", "B")

    response = owner.client.post(f"{STAGES}{a.pk}/reorder/", {"order": order}, format="json")

    assert response.status_code == 400
    assert response.data["error"] == "An error occurred"
    assert "order" in response.data["details"]
    assert stage_orders(pipeline) == [("A", 0), ("B", 1)]


# --- stages: list, tenancy, permissions -------------------------------------------------------


def test_stage_list_is_ordered_by_order_then_id_and_filters_by_pipeline(owner, org):
    first = PipelineFactory(organization=org)
    second = PipelineFactory(organization=org)
    a0, a1 = make_stages(first, "A0", "A1")
    (b0,) = make_stages(second, "B0")

    response = owner.client.get(STAGES)
    assert [row["id"] for row in response.data["results"]] == [a0.pk, b0.pk, a1.pk]

    response = owner.client.get(f"{STAGES}?pipeline={first.pk}")
    assert [row["id"] for row in response.data["results"]] == [a0.pk, a1.pk]

    response = owner.client.get(f"{STAGES}?ordering=-name")
    assert [row["name"] for row in response.data["results"]] == ["B0", "A1", "A0"]


@pytest.mark.parametrize("query", ["pipeline=abc", "pipeline=0", "ordering=stage", "org=1"])
def test_stage_list_bad_params_are_400(owner, org, query):
    response = owner.client.get(f"{STAGES}?{query}")

    assert response.status_code == 400


def test_foreign_stages_are_invisible(owner, org, other_org):
    foreign_pipeline = PipelineFactory(organization=other_org)
    (foreign,) = make_stages(foreign_pipeline, "Theirs")
    make_stages(PipelineFactory(organization=org), "Mine")
    url = f"{STAGES}{foreign.pk}/"

    listed = owner.client.get(STAGES)
    assert [row["name"] for row in listed.data["results"]] == ["Mine"]
    assert owner.client.get(f"{STAGES}?pipeline={foreign_pipeline.pk}").data["count"] == 0
    assert owner.client.get(url).status_code == 404
    response = owner.client.patch(url, {"name": "Hijacked"})
    assert response.status_code == 404
    assert response.data["details"] == "No PipelineStage matches the given query."
    assert owner.client.post(f"{url}reorder/", {"order": 0}).status_code == 404
    assert owner.client.delete(url).status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"


def test_viewer_reads_stages_but_cannot_write(viewer, org):
    pipeline = PipelineFactory(organization=org)
    a, _ = make_stages(pipeline, "A", "B")

    assert viewer.client.get(STAGES).data["count"] == 2
    assert viewer.client.post(STAGES, {"pipeline": pipeline.pk, "name": "C"}).status_code == 403
    assert viewer.client.patch(f"{STAGES}{a.pk}/", {"name": "Z"}).status_code == 403
    assert viewer.client.post(f"{STAGES}{a.pk}/reorder/", {"order": 1}).status_code == 403
    assert viewer.client.delete(f"{STAGES}{a.pk}/").status_code == 403
    assert stage_orders(pipeline) == [("A", 0), ("B", 1)]


def test_sales_cannot_change_stages(sales, org):
    pipeline = PipelineFactory(organization=org)
    a, _ = make_stages(pipeline, "A", "B")

    assert sales.client.post(STAGES, {"pipeline": pipeline.pk, "name": "C"}).status_code == 403
    assert sales.client.post(f"{STAGES}{a.pk}/reorder/", {"order": 1}).status_code == 403
    assert stage_orders(pipeline) == [("A", 0), ("B", 1)]


def test_member_without_role_cannot_list_stages(no_role, org):
    make_stages(PipelineFactory(organization=org), "A")

    assert no_role.client.get(STAGES).status_code == 403


def test_stage_list_query_count_is_constant(owner, org):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = owner.client.get(f"{STAGES}?page_size=100")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    pipeline = PipelineFactory(organization=org)
    PipelineStageFactory(pipeline=pipeline)
    one = count_queries()
    for _ in range(49):
        PipelineStageFactory(pipeline=PipelineFactory(organization=org))
    fifty = count_queries()

    assert one == fifty


def test_deleting_a_stage_never_leaves_its_deals_without_a_stage(owner, org):
    deal = DealFactory(organization=org)

    response = owner.client.delete(f"{STAGES}{deal.stage_id}/")

    assert response.status_code == 409
    assert Deal.objects.get(pk=deal.pk).stage_id == deal.stage_id
