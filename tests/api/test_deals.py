"""Deals: CRUD, state-machine actions, filters, stats, bulk and export, tenancy, RBAC."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import Deal
from crmApp.services.deals import utc_today
from tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    PipelineFactory,
    PipelineStageFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/deals/"

LIST_KEYS = [
    "id",
    "code",
    "title",
    "customer_name",
    "value",
    "currency",
    "stage_name",
    "probability",
    "expected_close_date",
    "assigned_to_name",
    "status",
    "priority",
    "is_won",
    "is_lost",
    "created_at",
]
DETAIL_KEYS = [
    "id",
    "organization",
    "code",
    "external_id",
    "customer",
    "pipeline",
    "stage",
    "title",
    "description",
    "value",
    "currency",
    "probability",
    "expected_revenue",
    "expected_close_date",
    "actual_close_date",
    "status",
    "priority",
    "assigned_to",
    "is_won",
    "is_lost",
    "lost_reason",
    "source",
    "tags",
    "notes",
    "created_at",
    "updated_at",
    "days_in_stage",
    "is_rotting",
    "customer_id",
    "pipeline_id",
    "stage_id",
    "assigned_to_id",
]


def detail_url(pk) -> str:
    return f"{URL}{pk}/"


def action_url(pk, name: str) -> str:
    return f"{URL}{pk}/{name}/"


@pytest.fixture
def board(org):
    """A pipeline of org with open, closed-won and closed-lost stages, a customer, an employee."""
    pipeline = PipelineFactory(organization=org, name="Sales")
    return {
        "pipeline": pipeline,
        "lead": PipelineStageFactory(pipeline=pipeline, name="Lead", order=0, probability=10),
        "proposal": PipelineStageFactory(
            pipeline=pipeline, name="Proposal", order=1, probability=60
        ),
        "won": PipelineStageFactory(
            pipeline=pipeline, name="Won", order=2, probability=100, is_closed_won=True
        ),
        "lost": PipelineStageFactory(
            pipeline=pipeline, name="Lost", order=3, probability=0, is_closed_lost=True
        ),
        "customer": CustomerFactory(organization=org, name="Initech"),
        "employee": EmployeeFactory(organization=org, first_name="Ann", last_name="Lee"),
    }


@pytest.fixture
def foreign(other_org):
    pipeline = PipelineFactory(organization=other_org)
    return {
        "pipeline": pipeline,
        "stage": PipelineStageFactory(pipeline=pipeline, name="Lead"),
        "customer": CustomerFactory(organization=other_org),
        "employee": EmployeeFactory(organization=other_org),
        "deal": DealFactory(organization=other_org, title="Theirs"),
    }


def open_deal(board, **fields) -> Deal:
    fields.setdefault("organization", board["pipeline"].organization)
    fields.setdefault("customer", board["customer"])
    fields.setdefault("pipeline", board["pipeline"])
    fields.setdefault("stage", board["lead"])
    fields.setdefault("value", Decimal("1000.00"))
    fields.setdefault("probability", Decimal("10.00"))
    return DealFactory(**fields)


def create_body(org, board, **extra) -> dict:
    body = {
        "organization": org.pk,
        "customer_id": board["customer"].pk,
        "pipeline_id": board["pipeline"].pk,
        "stage_id": board["proposal"].pk,
        "title": "Big deal",
        "value": "2000",
    }
    body.update(extra)
    return body


def snapshot(deal: Deal) -> tuple:
    deal.refresh_from_db()
    return (
        deal.title,
        deal.stage_id,
        deal.probability,
        deal.status,
        deal.is_won,
        deal.is_lost,
        deal.actual_close_date,
        deal.lost_reason,
    )


# --- create -----------------------------------------------------------------------------------


def test_create_deal_answers_detail_with_echo_ids(owner, org, board):
    body = create_body(
        org,
        board,
        assigned_to_id=board["employee"].pk,
        currency="EUR",
        priority="high",
        expected_close_date="2030-01-31",
        tags=["vip"],
        source="web",
        notes="n",
        description="d",
    )

    response = owner.client.post(URL, body)

    assert response.status_code == 201, response.data
    data = response.data
    assert list(data) == DETAIL_KEYS
    deal = Deal.objects.get(pk=data["id"])
    assert data["code"] == "DEAL-000001" == deal.code
    assert data["organization"] == org.pk
    assert (data["customer_id"], data["pipeline_id"], data["stage_id"]) == (
        board["customer"].pk,
        board["pipeline"].pk,
        board["proposal"].pk,
    )
    assert data["assigned_to_id"] == board["employee"].pk
    assert data["customer"] == {
        "id": board["customer"].pk,
        "code": board["customer"].code,
        "name": "Initech",
        "email": board["customer"].email,
        "phone": None,
        "customer_type": "individual",
        "status": "active",
        "assigned_to_name": None,
    }
    assert data["assigned_to"] == {
        "id": board["employee"].pk,
        "code": board["employee"].code,
        "full_name": "Ann Lee",
        "email": board["employee"].email,
        "phone": None,
        "department": "Sales",
        "job_title": None,
        "status": "active",
        "manager_name": None,
    }
    assert data["pipeline"]["id"] == board["pipeline"].pk
    assert [s["name"] for s in data["pipeline"]["stages"]] == ["Lead", "Proposal", "Won", "Lost"]
    assert data["pipeline"]["stage_count"] == 4
    assert data["stage"]["id"] == board["proposal"].pk
    assert data["stage"]["name"] == "Proposal"
    assert data["title"] == "Big deal"
    assert data["value"] == "2000.00"
    assert data["currency"] == "EUR"
    assert data["probability"] == "60.00"  # taken from the stage
    assert data["expected_revenue"] == "1200.00"
    assert data["expected_close_date"] == "2030-01-31"
    assert data["actual_close_date"] is None
    assert (data["status"], data["priority"]) == ("active", "high")
    assert (data["is_won"], data["is_lost"], data["lost_reason"]) == (False, False, None)
    assert (data["source"], data["tags"], data["notes"], data["description"]) == (
        "web",
        ["vip"],
        "n",
        "d",
    )


def test_create_deal_keeps_explicit_probability(owner, org, board):
    response = owner.client.post(URL, create_body(org, board, probability="25"))

    assert response.status_code == 201, response.data
    assert response.data["probability"] == "25.00"
    assert response.data["expected_revenue"] == "500.00"


def test_create_deal_without_value_has_null_expected_revenue(owner, org, board):
    body = create_body(org, board)
    del body["value"]

    response = owner.client.post(URL, body)

    assert response.status_code == 201
    assert (response.data["value"], response.data["expected_revenue"]) == (None, None)


def test_create_deal_with_zero_probability_has_zero_expected_revenue(owner, org, board):
    response = owner.client.post(URL, create_body(org, board, probability=0))

    assert response.status_code == 201
    assert response.data["expected_revenue"] == "0.00"


def test_create_deal_ignores_outcome_fields(owner, org, board):
    body = create_body(org, board, status="closed", is_won=True, actual_close_date="2020-01-01")

    response = owner.client.post(URL, body)

    assert response.status_code == 201
    assert (response.data["status"], response.data["is_won"]) == ("active", False)
    assert response.data["actual_close_date"] is None


def test_create_deal_in_a_closed_won_stage_creates_a_won_deal(owner, org, board):
    response = owner.client.post(URL, create_body(org, board, stage_id=board["won"].pk))

    assert response.status_code == 201
    data = response.data
    assert (data["is_won"], data["status"], data["probability"]) == (True, "closed", "100.00")
    assert data["actual_close_date"] == utc_today().isoformat()


@pytest.mark.parametrize("field", ["customer_id", "pipeline_id", "stage_id", "title"])
def test_create_deal_requires_field(owner, org, board, field):
    body = create_body(org, board)
    del body[field]

    response = owner.client.post(URL, body)

    assert response.status_code == 400
    assert response.data["details"] == {field: ["This field is required."]}
    assert not Deal.objects.exists()


@pytest.mark.parametrize("field", ["customer_id", "pipeline_id", "stage_id", "assigned_to_id"])
def test_create_deal_with_foreign_reference_is_400(owner, org, board, foreign, field):
    key = {
        "customer_id": "customer",
        "pipeline_id": "pipeline",
        "stage_id": "stage",
        "assigned_to_id": "employee",
    }[field]
    body = create_body(org, board, **{field: foreign[key].pk})

    response = owner.client.post(URL, body)

    assert response.status_code == 400
    assert field in response.data["details"]
    assert Deal.objects.filter(organization=org).count() == 0


@pytest.mark.parametrize("value", [999999, "abc", True, -1])
def test_create_deal_with_bad_customer_id_is_400(owner, org, board, value):
    response = owner.client.post(URL, create_body(org, board, customer_id=value), format="json")

    assert response.status_code == 400
    assert "customer_id" in response.data["details"]


def test_create_deal_with_stage_of_another_pipeline_is_400(owner, org, board):
    other_stage = PipelineStageFactory(pipeline=PipelineFactory(organization=org))

    response = owner.client.post(URL, create_body(org, board, stage_id=other_stage.pk))

    assert response.status_code == 400
    assert response.data["details"] == {
        "stage_id": ["The stage does not belong to the deal's pipeline."]
    }
    assert not Deal.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"probability": "101"}, "probability"),
        ({"value": "-1"}, "value"),
        ({"value": "1e20"}, "value"),
        ({"priority": "asap"}, "priority"),
        ({"tags": "vip"}, "tags"),
        ({"expected_close_date": "31/01/2030"}, "expected_close_date"),
        ({"organization": "x"}, "organization"),
    ],
)
def test_create_deal_bad_values_are_400(owner, org, board, extra, field):
    response = owner.client.post(URL, create_body(org, board, **extra))

    assert response.status_code == 400
    assert field in response.data["details"]
    assert not Deal.objects.exists()


def test_create_deal_in_foreign_organization_is_400(owner, org, board, other_org):
    response = owner.client.post(URL, create_body(org, board, organization=other_org.pk))

    assert response.status_code == 400
    assert "organization" in response.data["details"]


# --- retrieve / list --------------------------------------------------------------------------


def test_retrieve_deal_with_missing_relations_answers_nulls(owner, org, board):
    deal = open_deal(board)
    deal.customer.delete()
    board["pipeline"].delete()

    response = owner.client.get(detail_url(deal.pk))

    assert response.status_code == 200
    data = response.data
    assert (data["customer"], data["pipeline"], data["stage"], data["assigned_to"]) == (
        None,
        None,
        None,
        None,
    )
    assert (data["customer_id"], data["pipeline_id"], data["stage_id"]) == (None, None, None)


def test_list_items_have_names_or_null(owner, org, board):
    with_all = open_deal(board, assigned_to=board["employee"], title="A")
    bare = open_deal(board, title="B")
    Deal.objects.filter(pk=bare.pk).update(customer=None, stage=None)

    response = owner.client.get(URL)

    assert response.status_code == 200
    rows = response.data["results"]
    assert [row["id"] for row in rows] == [with_all.pk, bare.pk]
    assert list(rows[0]) == LIST_KEYS
    assert (rows[0]["customer_name"], rows[0]["stage_name"], rows[0]["assigned_to_name"]) == (
        "Initech",
        "Lead",
        "Ann Lee",
    )
    assert (rows[1]["customer_name"], rows[1]["stage_name"], rows[1]["assigned_to_name"]) == (
        None,
        None,
        None,
    )
    assert rows[0]["value"] == "1000.00"
    assert rows[0]["probability"] == "10.00"


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("status=inactive", ["inactive"]),
        ("priority=high", ["high"]),
        ("is_won=true", ["won"]),
        ("is_won=0", ["open", "inactive", "high", "lost", "other"]),
        ("is_lost=1", ["lost"]),
        ("is_won=", ["open", "inactive", "high", "won", "lost", "other"]),
        ("stage=STAGE", ["high"]),
        ("pipeline=PIPELINE", ["other"]),
        ("customer=CUSTOMER", ["other"]),
        ("assigned_to=EMPLOYEE", ["open"]),
        ("close_after=2030-06-01", ["won", "lost"]),
        ("close_before=2030-01-01", ["open"]),
        ("search=INITECH", ["open", "inactive", "high", "won", "lost"]),
        ("search=hig", ["high"]),
        ("search=acme corp", ["other"]),
        ("search=acme initech", []),
    ],
)
def test_deal_filters_and_search(owner, org, board, query, titles):
    open_deal(
        board,
        title="open",
        assigned_to=board["employee"],
        expected_close_date=dt.date(2029, 12, 1),
    )
    open_deal(board, title="inactive", status="inactive")
    high = open_deal(board, title="high", priority="high", stage=board["proposal"])
    open_deal(board, title="won", is_won=True, expected_close_date=dt.date(2030, 7, 1))
    open_deal(board, title="lost", is_lost=True, expected_close_date=dt.date(2030, 8, 1))
    other = DealFactory(organization=org, title="other", customer__name="Acme Corp")
    query = (
        query.replace("STAGE", str(high.stage_id))
        .replace("PIPELINE", str(other.pipeline_id))
        .replace("CUSTOMER", str(other.customer_id))
        .replace("EMPLOYEE", str(board["employee"].pk))
    )

    response = owner.client.get(f"{URL}?{query}")

    assert response.status_code == 200, response.data
    assert [row["title"] for row in response.data["results"]] == titles


@pytest.mark.parametrize(
    "query",
    [
        "pipeline=abc",
        "stage=1.5",
        "assigned_to=x",
        "organization=abc",
        "is_won=yes",
        "is_lost=maybe",
        "status=zzz",
        "close_after=tomorrow",
        "ordering=assigned_to_name",
        "ordering=expected_revenue",
        "colour=red",
    ],
)
def test_deal_bad_query_params_are_400(owner, org, query):
    response = owner.client.get(f"{URL}?{query}")

    assert response.status_code == 400
    assert response.data["error"] == "An error occurred"


@pytest.mark.parametrize(
    ("ordering", "titles"),
    [
        ("customer_name", ["b", "a"]),
        ("customer__name", ["b", "a"]),
        ("-customer_name", ["a", "b"]),
        ("stage_name,title", ["b", "a"]),
        ("-stage__name", ["a", "b"]),
        ("-value", ["a", "b"]),
        ("title", ["a", "b"]),
    ],
)
def test_deal_ordering_accepts_output_names_and_model_paths(owner, org, board, ordering, titles):
    open_deal(
        board,
        title="a",
        value=Decimal(5),
        customer=CustomerFactory(organization=org, name="Zed"),
        stage=board["won"],
    )
    open_deal(
        board,
        title="b",
        value=Decimal(1),
        customer=CustomerFactory(organization=org, name="Abe"),
        stage=board["lead"],
    )

    response = owner.client.get(f"{URL}?ordering={ordering}")

    assert response.status_code == 200
    assert [row["title"] for row in response.data["results"]] == titles


def test_deal_list_query_count_is_constant(owner, org, board):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = owner.client.get(f"{URL}?page_size=100")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    open_deal(board, assigned_to=board["employee"])
    one = count_queries()
    for _ in range(49):
        manager = EmployeeFactory(organization=org)
        DealFactory(
            organization=org, assigned_to=EmployeeFactory(organization=org, manager=manager)
        )
    fifty = count_queries()

    assert one == fifty


def test_deal_detail_query_count_does_not_grow_with_stages(owner, org, board):
    def count_queries(pk) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = owner.client.get(detail_url(pk))
        assert response.status_code == 200
        return len(ctx.captured_queries)

    small = DealFactory(organization=org)
    manager = EmployeeFactory(organization=org)
    big = open_deal(
        board,
        assigned_to=EmployeeFactory(organization=org, manager=manager),
        customer=CustomerFactory(organization=org, assigned_to=EmployeeFactory(organization=org)),
    )
    for number in range(20):
        PipelineStageFactory(pipeline=board["pipeline"], name=f"Extra {number}")
    count_queries(small.pk)  # a connection's first JSON query probes SQLite's JSON support once

    assert count_queries(small.pk) == count_queries(big.pk) == 2


# --- update -----------------------------------------------------------------------------------


def test_patch_deal_answers_detail(owner, org, board):
    deal = open_deal(board)

    response = owner.client.patch(
        detail_url(deal.pk),
        {"title": "Renamed", "value": "500", "assigned_to_id": board["employee"].pk},
    )

    assert response.status_code == 200, response.data
    assert list(response.data) == DETAIL_KEYS
    assert response.data["title"] == "Renamed"
    assert response.data["expected_revenue"] == "50.00"
    assert response.data["assigned_to_id"] == board["employee"].pk
    assert response.data["assigned_to"]["full_name"] == "Ann Lee"


def test_patch_value_to_null_clears_expected_revenue(owner, org, board):
    deal = open_deal(board)

    response = owner.client.patch(detail_url(deal.pk), {"value": None}, format="json")

    assert response.status_code == 200
    assert (response.data["value"], response.data["expected_revenue"]) == (None, None)


def test_patch_probability_to_zero_zeroes_expected_revenue(owner, org, board):
    deal = open_deal(board)

    response = owner.client.patch(detail_url(deal.pk), {"probability": 0}, format="json")

    assert response.status_code == 200
    assert response.data["expected_revenue"] == "0.00"


def test_put_back_what_was_read_is_accepted_for_a_won_deal(owner, org, board):
    deal = open_deal(board, assigned_to=board["employee"])
    owner.client.post(action_url(deal.pk, "mark_won"))
    read = owner.client.get(detail_url(deal.pk)).data
    body = {key: value for key, value in read.items() if not isinstance(value, dict)}

    response = owner.client.put(detail_url(deal.pk), body, format="json")

    assert response.status_code == 200, response.data
    assert (response.data["status"], response.data["is_won"]) == ("closed", True)


def test_patch_stage_within_pipeline_copies_its_probability(owner, org, board):
    deal = open_deal(board)

    response = owner.client.patch(detail_url(deal.pk), {"stage_id": board["proposal"].pk})

    assert response.status_code == 200
    assert (response.data["stage_id"], response.data["probability"]) == (
        board["proposal"].pk,
        "60.00",
    )
    assert response.data["expected_revenue"] == "600.00"


def test_patch_stage_and_probability_keeps_the_given_probability(owner, org, board):
    deal = open_deal(board)

    response = owner.client.patch(
        detail_url(deal.pk), {"stage_id": board["proposal"].pk, "probability": "33"}
    )

    assert response.status_code == 200
    assert response.data["probability"] == "33.00"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"is_won": True}, "is_won", "mark_won"),
        ({"is_lost": True}, "is_lost", "mark_won"),
        ({"status": "closed"}, "status", "A deal is closed by marking it won or lost."),
        ({"actual_close_date": "2030-01-01"}, "actual_close_date", "close date"),
        ({"lost_reason": "price"}, "lost_reason", "Only a lost deal has a lost reason."),
        ({"status": "bogus"}, "status", "is not a valid choice"),
    ],
)
def test_update_cannot_bypass_the_state_machine_of_an_open_deal(
    owner, org, board, body, field, message
):
    deal = open_deal(board)
    before = snapshot(deal)

    response = owner.client.patch(detail_url(deal.pk), body)

    assert response.status_code == 400
    assert message in response.data["details"][field][0]
    assert snapshot(deal) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"is_won": False}, "is_won"),
        ({"is_lost": True}, "is_lost"),
        ({"status": "active"}, "status"),
        ({"stage_id": "LEAD"}, "stage_id"),
        ({"probability": "50"}, "probability"),
        ({"actual_close_date": None}, "actual_close_date"),
    ],
)
def test_update_cannot_bypass_the_state_machine_of_a_won_deal(owner, org, board, body, field):
    deal = open_deal(board, stage=board["proposal"])
    owner.client.post(action_url(deal.pk, "mark_won"))
    before = snapshot(deal)
    body = {key: board["lead"].pk if value == "LEAD" else value for key, value in body.items()}

    response = owner.client.patch(detail_url(deal.pk), body, format="json")

    assert response.status_code == 400
    assert field in response.data["details"]
    assert snapshot(deal) == before


def test_won_deal_may_move_into_a_closed_won_stage(owner, org, board):
    deal = open_deal(board)
    owner.client.post(action_url(deal.pk, "mark_won"))

    patched = owner.client.patch(detail_url(deal.pk), {"stage_id": board["won"].pk})
    moved_back = owner.client.post(
        action_url(deal.pk, "move_stage"), {"stage_id": board["lead"].pk}
    )

    assert patched.status_code == 200, patched.data
    assert (patched.data["stage_id"], patched.data["is_won"]) == (board["won"].pk, True)
    assert patched.data["probability"] == "100.00"
    assert moved_back.status_code == 400
    assert moved_back.data["error"] == (
        "A won deal can only move into a closed-won stage; reopen it first."
    )


def test_update_of_an_open_deal_may_switch_active_and_inactive(owner, org, board):
    deal = open_deal(board)

    response = owner.client.patch(detail_url(deal.pk), {"status": "inactive"})

    assert response.status_code == 200
    assert response.data["status"] == "inactive"


def test_lost_deal_reason_and_close_date_are_editable(owner, org, board):
    deal = open_deal(board)
    owner.client.post(action_url(deal.pk, "mark_lost"), {"lost_reason": "price"})

    response = owner.client.patch(
        detail_url(deal.pk), {"lost_reason": "budget", "actual_close_date": "2024-01-02"}
    )

    assert response.status_code == 200, response.data
    assert (response.data["lost_reason"], response.data["actual_close_date"]) == (
        "budget",
        "2024-01-02",
    )


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("customer_id", "The customer of a deal cannot be changed."),
        ("pipeline_id", "The pipeline of a deal cannot be changed."),
    ],
)
def test_customer_and_pipeline_cannot_change(owner, org, board, field, message):
    deal = open_deal(board)
    replacement = {
        "customer_id": CustomerFactory(organization=org).pk,
        "pipeline_id": PipelineFactory(organization=org).pk,
    }[field]

    response = owner.client.patch(detail_url(deal.pk), {field: replacement})

    assert response.status_code == 400
    assert response.data["details"] == {field: [message]}
    deal.refresh_from_db()
    assert (deal.customer_id, deal.pipeline_id) == (board["customer"].pk, board["pipeline"].pk)


def test_patch_stage_of_another_pipeline_is_400(owner, org, board):
    deal = open_deal(board)
    other_stage = PipelineStageFactory(pipeline=PipelineFactory(organization=org))

    response = owner.client.patch(detail_url(deal.pk), {"stage_id": other_stage.pk})

    assert response.status_code == 400
    assert response.data["details"] == {
        "stage_id": ["The stage does not belong to the deal's pipeline."]
    }
    deal.refresh_from_db()
    assert deal.stage_id == board["lead"].pk


@pytest.mark.parametrize("field", ["stage_id", "assigned_to_id", "customer_id", "pipeline_id"])
def test_update_with_foreign_reference_is_400(owner, org, board, foreign, field):
    deal = open_deal(board)
    key = {
        "stage_id": "stage",
        "assigned_to_id": "employee",
        "customer_id": "customer",
        "pipeline_id": "pipeline",
    }[field]
    before = snapshot(deal)

    response = owner.client.patch(detail_url(deal.pk), {field: foreign[key].pk})

    assert response.status_code == 400
    assert field in response.data["details"]
    assert snapshot(deal) == before
    assert Deal.objects.get(pk=deal.pk).assigned_to_id is None


def test_update_cannot_move_deal_to_another_organization(owner, org, board, other_org):
    from tests.factories import MembershipFactory

    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)
    deal = open_deal(board)

    response = owner.client.patch(detail_url(deal.pk), {"organization": other_org.pk})

    assert response.status_code == 400
    assert Deal.objects.get(pk=deal.pk).organization_id == org.pk


def test_delete_deal(owner, org, board):
    deal = open_deal(board)

    assert owner.client.delete(detail_url(deal.pk)).status_code == 204
    assert not Deal.objects.filter(pk=deal.pk).exists()


# --- actions ----------------------------------------------------------------------------------


def test_move_stage_copies_the_stage_probability(owner, org, board):
    deal = open_deal(board)

    response = owner.client.post(
        action_url(deal.pk, "move_stage"), {"stage_id": board["proposal"].pk}
    )

    assert response.status_code == 200, response.data
    assert response.data["message"] == "Deal moved to new stage."
    assert list(response.data["deal"]) == DETAIL_KEYS
    assert response.data["deal"]["stage"]["id"] == board["proposal"].pk
    assert response.data["deal"]["probability"] == "60.00"
    assert response.data["deal"]["expected_revenue"] == "600.00"
    assert response.data["deal"]["is_won"] is False


def test_move_stage_into_closed_won_stage_wins_the_deal(owner, org, board):
    deal = open_deal(board)

    response = owner.client.post(action_url(deal.pk, "move_stage"), {"stage_id": board["won"].pk})

    assert response.status_code == 200
    data = response.data["deal"]
    assert (data["stage_id"], data["is_won"], data["is_lost"], data["status"]) == (
        board["won"].pk,
        True,
        False,
        "closed",
    )
    assert (data["probability"], data["expected_revenue"]) == ("100.00", "1000.00")
    assert data["actual_close_date"] == utc_today().isoformat()


def test_move_stage_into_closed_lost_stage_loses_the_deal(owner, org, board):
    deal = open_deal(board)

    response = owner.client.post(action_url(deal.pk, "move_stage"), {"stage_id": board["lost"].pk})

    assert response.status_code == 200
    data = response.data["deal"]
    assert (data["is_won"], data["is_lost"], data["status"]) == (False, True, "closed")
    assert (data["probability"], data["expected_revenue"], data["lost_reason"]) == (
        "0.00",
        "0.00",
        "",
    )


def test_move_stage_without_stage_id_is_400(owner, org, board):
    deal = open_deal(board)

    response = owner.client.post(action_url(deal.pk, "move_stage"), {})

    assert response.status_code == 400
    assert response.data["error"] == "stage_id is required"
    assert response.data["status_code"] == 400


def test_move_stage_with_non_integer_stage_id_is_400(owner, org, board):
    deal = open_deal(board)

    response = owner.client.post(action_url(deal.pk, "move_stage"), {"stage_id": "abc"})

    assert response.status_code == 400
    assert response.data["details"] == {"stage_id": ["A valid integer is required."]}


@pytest.mark.parametrize("where", ["other_pipeline", "other_org", "missing"])
def test_move_stage_to_a_stage_outside_the_pipeline_is_404(owner, org, board, foreign, where):
    deal = open_deal(board)
    stage_id = {
        "other_pipeline": PipelineStageFactory(pipeline=PipelineFactory(organization=org)).pk,
        "other_org": foreign["stage"].pk,
        "missing": 999999,
    }[where]
    before = snapshot(deal)

    response = owner.client.post(action_url(deal.pk, "move_stage"), {"stage_id": stage_id})

    assert response.status_code == 404
    assert response.data["error"] == "Stage not found"
    assert snapshot(deal) == before


def test_move_stage_of_a_closed_deal_is_400(owner, org, board):
    deal = open_deal(board)
    owner.client.post(action_url(deal.pk, "mark_lost"))
    before = snapshot(deal)

    response = owner.client.post(
        action_url(deal.pk, "move_stage"), {"stage_id": board["proposal"].pk}
    )

    assert response.status_code == 400
    assert "reopen" in response.data["error"]
    assert snapshot(deal) == before


@pytest.mark.parametrize(
    ("action", "body", "closed_first"),
    [
        ("move_stage", {"stage_id": "proposal"}, False),
        ("move_stage", {"stage_id": "won"}, False),
        ("mark_won", {}, False),
        ("mark_lost", {"lost_reason": "Budget"}, False),
        ("reopen", {}, True),
    ],
)
def test_transition_answers_the_detail_as_stored_in_fixed_queries(
    is_postgres, owner, org, board, action, body, closed_first
):
    """Transitions answer from the row their service locked, plus the relations `get_object`
    read (no second joined read): the answer must still be exactly what a GET returns next."""
    deal = open_deal(
        board,
        assigned_to=EmployeeFactory(organization=org, manager=EmployeeFactory(organization=org)),
        customer=CustomerFactory(organization=org, assigned_to=board["employee"]),
    )
    if closed_first:
        owner.client.post(action_url(deal.pk, "mark_won"))
    if "stage_id" in body:
        body = {"stage_id": board[body["stage_id"]].pk}

    with CaptureQueriesContext(connection) as ctx:
        response = owner.client.post(action_url(deal.pk, action), body, format="json")
    queries = len(ctx.captured_queries)  # counted before any other request

    assert response.status_code == 200, response.data
    assert response.json()["deal"] == owner.client.get(detail_url(deal.pk)).json()
    # session+user+access, the joined read that locks the row (FOR UPDATE OF deals) with the
    # pipeline's stages inside it, update, the stage history's close and insert, the event's
    # and the audit row's inserts, and a savepoint with its release for the request's atomic
    # block (inside the test's own); the other transitions' services open a savepoint of their
    # own too. A move finds its stage among the embedded stages. PostgreSQL gets the five
    # writes as two statements (the update with the close, then the three inserts and the
    # funnel tally's upsert). Elsewhere the tally reads the deal's earliest and latest entry
    # into the stage, then writes the change (these deals were made without history, so each
    # enters its stage for the first time; a reopen re-enters the same day: nothing changes).
    # The stay tallies ride in the same two statements on PostgreSQL; elsewhere they read the
    # deal's stays (none to move here) and count the new open stay (into an open stage).
    tally = 0 if is_postgres else (1 if action == "reopen" else 2)
    if not is_postgres:
        opens = action == "reopen" or body.get("stage_id") == board["proposal"].pk
        tally += 1 + opens
    writes = (2 if is_postgres else 5) + tally
    assert queries == (4 if action == "move_stage" else 6) + writes


def test_mark_won(owner, org, board):
    deal = open_deal(board)

    response = owner.client.post(action_url(deal.pk, "mark_won"))

    assert response.status_code == 200, response.data
    assert response.data["message"] == "Deal marked as won."
    data = response.data["deal"]
    assert list(data) == DETAIL_KEYS
    assert (data["is_won"], data["is_lost"], data["status"]) == (True, False, "closed")
    assert data["actual_close_date"] == utc_today().isoformat()
    assert (data["probability"], data["expected_revenue"], data["lost_reason"]) == (
        "100.00",
        "1000.00",
        None,
    )
    assert data["stage_id"] == board["lead"].pk


def test_mark_won_twice_is_idempotent(owner, org, board):
    deal = open_deal(board)
    owner.client.post(action_url(deal.pk, "mark_won"))
    Deal.objects.filter(pk=deal.pk).update(actual_close_date=dt.date(2020, 1, 1))

    response = owner.client.post(action_url(deal.pk, "mark_won"))

    assert response.status_code == 200
    assert response.data["deal"]["actual_close_date"] == "2020-01-01"


def test_mark_won_on_a_lost_deal_is_400(owner, org, board):
    deal = open_deal(board)
    owner.client.post(action_url(deal.pk, "mark_lost"), {"lost_reason": "price"})
    before = snapshot(deal)

    response = owner.client.post(action_url(deal.pk, "mark_won"))

    assert response.status_code == 400
    assert response.data["error"] == "A lost deal cannot be marked as won; reopen it first."
    assert snapshot(deal) == before


def test_mark_lost_with_reason(owner, org, board):
    deal = open_deal(board)

    response = owner.client.post(action_url(deal.pk, "mark_lost"), {"lost_reason": "price"})

    assert response.status_code == 200, response.data
    assert response.data["message"] == "Deal marked as lost."
    data = response.data["deal"]
    assert (data["is_won"], data["is_lost"], data["status"]) == (False, True, "closed")
    assert (data["lost_reason"], data["probability"], data["expected_revenue"]) == (
        "price",
        "0.00",
        "0.00",
    )
    assert data["actual_close_date"] == utc_today().isoformat()


def test_mark_lost_without_reason_stores_empty_reason(owner, org, board):
    deal = open_deal(board)

    response = owner.client.post(action_url(deal.pk, "mark_lost"))

    assert response.status_code == 200
    assert response.data["deal"]["lost_reason"] == ""


def test_mark_lost_again_updates_only_a_given_reason(owner, org, board):
    deal = open_deal(board)
    owner.client.post(action_url(deal.pk, "mark_lost"), {"lost_reason": "price"})

    kept = owner.client.post(action_url(deal.pk, "mark_lost"))
    changed = owner.client.post(action_url(deal.pk, "mark_lost"), {"lost_reason": "budget"})

    assert (kept.status_code, kept.data["deal"]["lost_reason"]) == (200, "price")
    assert (changed.status_code, changed.data["deal"]["lost_reason"]) == (200, "budget")


def test_mark_lost_on_a_won_deal_is_400(owner, org, board):
    deal = open_deal(board)
    owner.client.post(action_url(deal.pk, "mark_won"))
    before = snapshot(deal)

    response = owner.client.post(action_url(deal.pk, "mark_lost"), {"lost_reason": "x"})

    assert response.status_code == 400
    assert response.data["error"] == "A won deal cannot be marked as lost; reopen it first."
    assert snapshot(deal) == before


def test_mark_lost_with_bad_reason_is_400(owner, org, board):
    deal = open_deal(board)

    response = owner.client.post(
        action_url(deal.pk, "mark_lost"), {"lost_reason": {"a": 1}}, format="json"
    )

    assert response.status_code == 400
    assert "lost_reason" in response.data["details"]
    assert Deal.objects.get(pk=deal.pk).is_lost is False


@pytest.mark.parametrize("outcome", ["mark_won", "mark_lost"])
def test_reopen_a_closed_deal(owner, org, board, outcome):
    deal = open_deal(board, stage=board["proposal"])
    owner.client.post(action_url(deal.pk, outcome), {"lost_reason": "price"})

    response = owner.client.post(action_url(deal.pk, "reopen"))

    assert response.status_code == 200, response.data
    assert response.data["message"] == "Deal reopened."
    data = response.data["deal"]
    assert (data["is_won"], data["is_lost"], data["status"]) == (False, False, "active")
    assert (data["actual_close_date"], data["lost_reason"]) == (None, None)
    assert (data["probability"], data["expected_revenue"]) == ("60.00", "600.00")


def test_reopen_an_open_deal_is_400(owner, org, board):
    deal = open_deal(board)
    before = snapshot(deal)

    response = owner.client.post(action_url(deal.pk, "reopen"))

    assert response.status_code == 400
    assert response.data["error"] == "Only a won or lost deal can be reopened."
    assert snapshot(deal) == before


def test_foreign_deal_is_not_found_on_every_route(owner, foreign):
    deal = foreign["deal"]
    before = snapshot(deal)

    assert owner.client.get(detail_url(deal.pk)).status_code == 404
    response = owner.client.patch(detail_url(deal.pk), {"title": "Mine"})
    assert response.status_code == 404
    assert response.data["details"] == "No Deal matches the given query."
    assert owner.client.put(detail_url(deal.pk), {"title": "Mine"}).status_code == 404
    assert owner.client.delete(detail_url(deal.pk)).status_code == 404
    for name in ("move_stage", "mark_won", "mark_lost", "reopen"):
        body = {"stage_id": deal.stage_id} if name == "move_stage" else {}
        assert owner.client.post(action_url(deal.pk, name), body).status_code == 404, name
    assert owner.client.get(URL).data["count"] == 0
    assert snapshot(deal) == before


# --- permissions ------------------------------------------------------------------------------


def test_viewer_reads_deals_but_cannot_write(viewer, org, board):
    deal = open_deal(board)
    before = snapshot(deal)

    assert viewer.client.get(URL).data["count"] == 1
    assert viewer.client.get(detail_url(deal.pk)).status_code == 200
    assert viewer.client.get(f"{URL}stats/").status_code == 200
    assert viewer.client.post(URL, create_body(org, board)).status_code == 403
    assert viewer.client.patch(detail_url(deal.pk), {"title": "X"}).status_code == 403
    assert viewer.client.delete(detail_url(deal.pk)).status_code == 403
    for name in ("move_stage", "mark_won", "mark_lost", "reopen"):
        body = {"stage_id": board["won"].pk} if name == "move_stage" else {}
        assert viewer.client.post(action_url(deal.pk, name), body).status_code == 403, name
    bulk = viewer.client.post(f"{URL}bulk_update/", {"ids": [deal.pk], "data": {"priority": "low"}})
    assert bulk.status_code == 403
    assert viewer.client.post(f"{URL}bulk_delete/", {"ids": [deal.pk]}).status_code == 403
    assert snapshot(deal) == before
    assert Deal.objects.count() == 1
    assert Deal.objects.get(pk=deal.pk).priority == "medium"


def test_sales_works_deals_but_cannot_delete(sales, org, board):
    deal = open_deal(board)

    created = sales.client.post(URL, create_body(org, board))
    moved = sales.client.post(action_url(deal.pk, "move_stage"), {"stage_id": board["proposal"].pk})
    won = sales.client.post(action_url(deal.pk, "mark_won"))
    deleted = sales.client.delete(detail_url(deal.pk))
    bulk_deleted = sales.client.post(f"{URL}bulk_delete/", {"ids": [deal.pk]})

    assert (created.status_code, moved.status_code, won.status_code) == (201, 200, 200)
    assert (deleted.status_code, bulk_deleted.status_code) == (403, 403)
    assert Deal.objects.filter(pk=deal.pk, is_won=True).exists()


def test_member_without_role_cannot_read_deals(no_role, org, board):
    deal = open_deal(board)

    assert no_role.client.get(URL).status_code == 403
    assert no_role.client.get(f"{URL}stats/").status_code == 403
    assert no_role.client.get(detail_url(deal.pk)).status_code == 404
    assert no_role.client.post(action_url(deal.pk, "mark_won")).status_code == 404
    assert Deal.objects.get(pk=deal.pk).is_won is False


def test_outsider_cannot_create_deals(outsider, org, board):
    response = outsider.client.post(URL, create_body(org, board))

    assert response.status_code == 403
    assert not Deal.objects.exists()


# --- stats ------------------------------------------------------------------------------------


def test_stats_figures(owner, org, board, other_org):
    open_deal(board, value=Decimal(1000), probability=Decimal(50), stage=board["proposal"])
    open_deal(board, value=Decimal(500), probability=Decimal(10), priority="high")
    open_deal(board, value=None, priority="low", stage=board["proposal"])
    open_deal(board, value=Decimal(200), is_won=True, probability=Decimal(100), stage=None)
    open_deal(board, value=Decimal(300), is_lost=True, probability=Decimal(0))
    DealFactory(organization=other_org, value=Decimal(99999))

    response = owner.client.get(f"{URL}stats/")

    assert response.status_code == 200
    assert response.data == {
        "total_deals": 5,
        "total_value": 2000.0,
        "expected_revenue": 750.0,
        "won": 1,
        "lost": 1,
        "open": 3,
        "by_stage": {
            "Lead": {"count": 2, "value": 800.0},
            "Proposal": {"count": 2, "value": 1000.0},
        },
        "by_priority": {"low": 1, "medium": 3, "high": 1, "urgent": 0},
    }


def test_stats_of_no_deals(owner, org):
    response = owner.client.get(f"{URL}stats/")

    assert response.data == {
        "total_deals": 0,
        "total_value": 0.0,
        "expected_revenue": 0.0,
        "won": 0,
        "lost": 0,
        "open": 0,
        "by_stage": {},
        "by_priority": {"low": 0, "medium": 0, "high": 0, "urgent": 0},
    }
    assert isinstance(response.data["total_value"], float)


def test_stats_keep_equal_stage_names_of_different_pipelines_apart(owner, org, board):
    other = PipelineFactory(organization=org, name="Renewals")
    other_lead = PipelineStageFactory(pipeline=other, name="Lead")
    open_deal(board, value=Decimal(100))
    open_deal(board, value=Decimal(10), pipeline=other, stage=other_lead)

    response = owner.client.get(f"{URL}stats/")

    assert response.data["by_stage"] == {
        "Lead (Sales)": {"count": 1, "value": 100.0},
        "Lead (Renewals)": {"count": 1, "value": 10.0},
    }


def test_stats_honour_organization_narrowing(owner, org, board, other_org):
    from tests.factories import MembershipFactory

    MembershipFactory(user=owner.user, organization=other_org, is_owner=True)
    open_deal(board)
    DealFactory(organization=other_org)
    DealFactory(organization=other_org)

    all_orgs = owner.client.get(f"{URL}stats/")
    narrowed = owner.client.get(f"{URL}stats/?organization={other_org.pk}")
    by_header = owner.client.get(f"{URL}stats/", HTTP_X_ORGANIZATION_ID=str(org.pk))

    assert all_orgs.data["total_deals"] == 3
    assert narrowed.data["total_deals"] == 2
    assert by_header.data["total_deals"] == 1


def test_stats_query_count_is_fixed(owner, org, board):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = owner.client.get(f"{URL}stats/")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    with CaptureQueriesContext(connection) as ctx:
        owner.client.get(f"{URL}?page_size=1&status=zzz")  # auth + access only (400)
    baseline = len(ctx.captured_queries)
    open_deal(board)
    one = count_queries()
    for number in range(10):
        pipeline = PipelineFactory(organization=org)
        DealFactory(
            organization=org, pipeline=pipeline, stage__name=f"S{number}", priority="urgent"
        )
    many = count_queries()

    assert one == many
    assert one - baseline == 1  # one GROUP BY (stage, priority, outcome)


# --- bulk and export --------------------------------------------------------------------------


def test_bulk_update_allowed_fields(owner, org, board):
    first, second = open_deal(board), open_deal(board)

    response = owner.client.post(
        f"{URL}bulk_update/",
        {
            "ids": [first.pk, second.pk],
            "data": {"priority": "urgent", "assigned_to_id": board["employee"].pk, "tags": ["a"]},
        },
    )

    assert response.status_code == 200, response.data
    assert response.data == {"message": "2 items updated successfully", "count": 2}
    assert set(Deal.objects.values_list("priority", "assigned_to_id")) == {
        ("urgent", board["employee"].pk)
    }


@pytest.mark.parametrize(
    "data",
    [{"status": "closed"}, {"is_won": True}, {"stage_id": 1}, {"organization": 1}],
)
def test_bulk_update_refuses_fields_outside_the_allow_list(owner, org, board, data):
    deal = open_deal(board)
    before = snapshot(deal)

    response = owner.client.post(f"{URL}bulk_update/", {"ids": [deal.pk], "data": data})

    assert response.status_code == 400
    assert snapshot(deal) == before


def test_bulk_update_with_foreign_assignee_or_ids_changes_nothing(owner, org, board, foreign):
    deal = open_deal(board)

    bad_assignee = owner.client.post(
        f"{URL}bulk_update/",
        {"ids": [deal.pk], "data": {"assigned_to_id": foreign["employee"].pk}},
    )
    bad_ids = owner.client.post(
        f"{URL}bulk_update/",
        {"ids": [deal.pk, foreign["deal"].pk], "data": {"priority": "low"}},
    )

    assert (bad_assignee.status_code, bad_ids.status_code) == (400, 400)
    deal.refresh_from_db()
    assert (deal.assigned_to_id, deal.priority) == (None, "medium")
    assert Deal.objects.get(pk=foreign["deal"].pk).priority == "medium"


def test_bulk_delete(owner, org, board, foreign):
    first, second, kept = open_deal(board), open_deal(board), open_deal(board)

    empty = owner.client.post(f"{URL}bulk_delete/", {"ids": []})
    mixed = owner.client.post(f"{URL}bulk_delete/", {"ids": [first.pk, foreign["deal"].pk]})
    response = owner.client.post(f"{URL}bulk_delete/", {"ids": [first.pk, second.pk]})

    assert empty.status_code == 400
    assert mixed.status_code == 400
    assert response.status_code == 200
    assert response.data == {"message": "2 items deleted successfully", "count": 2}
    assert list(Deal.objects.filter(organization=org).values_list("pk", flat=True)) == [kept.pk]
    assert Deal.objects.filter(pk=foreign["deal"].pk).exists()


def test_export_csv_streams_the_filtered_deals(owner, org, board, foreign):
    open_deal(board, title="=cmd()", priority="high")
    open_deal(board, title="quiet", priority="low")

    response = owner.client.get(f"{URL}export_csv/?priority=high")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="deal_export.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "created_at", "updated_at", "organization"]
    assert "title" in rows[0] and "expected_revenue" in rows[0]
    assert len(rows) == 2
    assert rows[1][rows[0].index("title")] == "'=cmd()"
