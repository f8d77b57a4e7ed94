"""The deal state machine, expected revenue, stats and concurrent transitions (services)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.errors import InvalidInput
from crmApp.models import Deal
from crmApp.selectors.deals import DealSelector, deal_stats
from crmApp.services.deals import (
    DealTransitionError,
    StageNotFound,
    deal_create,
    deal_mark_lost,
    deal_mark_won,
    deal_move_stage,
    deal_reopen,
    deal_update,
    utc_today,
)
from tests.concurrency import run_concurrently
from tests.factories import (
    CustomerFactory,
    DealFactory,
    OrganizationFactory,
    PipelineFactory,
    PipelineStageFactory,
)


def make_board(organization):
    pipeline = PipelineFactory(organization=organization, name="Sales")
    return {
        "pipeline": pipeline,
        "lead": PipelineStageFactory(pipeline=pipeline, name="Lead", order=0, probability=20),
        "proposal": PipelineStageFactory(
            pipeline=pipeline, name="Proposal", order=1, probability=60
        ),
        "won": PipelineStageFactory(
            pipeline=pipeline, name="Won", order=2, probability=90, is_closed_won=True
        ),
        "lost": PipelineStageFactory(
            pipeline=pipeline, name="Lost", order=3, probability=5, is_closed_lost=True
        ),
    }


@pytest.fixture
def board(db):
    return make_board(OrganizationFactory(rbac=False))


def new_deal(board, **fields) -> Deal:
    pipeline = board["pipeline"]
    fields.setdefault("stage", board["lead"])
    fields.setdefault("value", Decimal("1000.00"))
    fields.setdefault("probability", Decimal("20.00"))
    return DealFactory(organization=pipeline.organization, pipeline=pipeline, **fields)


def state(deal: Deal) -> tuple:
    deal.refresh_from_db()
    return (deal.is_won, deal.is_lost, deal.status, deal.probability, deal.lost_reason)


WON = (True, False, "closed", Decimal("100.00"), None)


# --- create and expected revenue --------------------------------------------------------------


def test_create_takes_the_stage_probability_when_none_is_given(board):
    deal = deal_create(
        actor=None,
        organization=board["pipeline"].organization,
        customer=CustomerFactory(organization=board["pipeline"].organization),
        pipeline=board["pipeline"],
        stage=board["proposal"],
        title="T",
        value=Decimal("250.00"),
    )

    deal.refresh_from_db()
    assert (deal.probability, deal.expected_revenue) == (Decimal("60.00"), Decimal("150.00"))
    assert deal.code == "DEAL-000001"


def test_create_keeps_an_explicit_zero_probability(board):
    deal = deal_create(
        actor=None,
        organization=board["pipeline"].organization,
        customer=CustomerFactory(organization=board["pipeline"].organization),
        pipeline=board["pipeline"],
        stage=board["proposal"],
        probability=Decimal(0),
        title="T",
        value=Decimal("250.00"),
    )

    assert (deal.probability, deal.expected_revenue) == (Decimal(0), Decimal("0.00"))


@pytest.mark.parametrize(
    ("value", "probability", "expected"),
    [
        (None, Decimal(50), None),
        (Decimal("1000.00"), Decimal(0), Decimal("0.00")),
        (Decimal("0.00"), Decimal(50), Decimal("0.00")),
        (Decimal("333.33"), Decimal("33.33"), Decimal("111.10")),
        (Decimal("0.01"), Decimal(50), Decimal("0.01")),
    ],
)
def test_expected_revenue_is_always_recomputed(board, value, probability, expected):
    deal = new_deal(board, value=Decimal(500), probability=Decimal(50))

    deal_update(actor=None, deal=deal, value=value, probability=probability)

    deal.refresh_from_db()
    assert deal.expected_revenue == expected


# --- transitions ------------------------------------------------------------------------------


def test_mark_won_from_open(board):
    deal = new_deal(board)

    deal_mark_won(actor=None, deal=deal)

    assert state(deal) == WON
    assert deal.actual_close_date == utc_today()
    assert deal.expected_revenue == Decimal("1000.00")
    assert deal.stage_id == board["lead"].pk


def test_mark_won_twice_keeps_the_first_close_date(board):
    deal = new_deal(board)
    deal_mark_won(actor=None, deal=deal)
    Deal.objects.filter(pk=deal.pk).update(actual_close_date="2020-02-02")

    deal_mark_won(actor=None, deal=deal)

    deal.refresh_from_db()
    assert str(deal.actual_close_date) == "2020-02-02"


def test_mark_won_from_lost_is_refused(board):
    deal = new_deal(board)
    deal_mark_lost(actor=None, deal=deal, lost_reason="price")

    with pytest.raises(DealTransitionError):
        deal_mark_won(actor=None, deal=deal)

    assert state(deal) == (False, True, "closed", Decimal("0.00"), "price")


def test_mark_lost_from_open_and_from_won(board):
    deal = new_deal(board)

    deal_mark_lost(actor=None, deal=deal, lost_reason=None)
    assert state(deal) == (False, True, "closed", Decimal("0.00"), "")
    assert deal.expected_revenue == Decimal("0.00")

    won = new_deal(board)
    deal_mark_won(actor=None, deal=won)
    with pytest.raises(DealTransitionError):
        deal_mark_lost(actor=None, deal=won, lost_reason="late")
    assert state(won) == WON


def test_reopen_restores_the_stage_probability(board):
    deal = new_deal(board, stage=board["proposal"])
    deal_mark_lost(actor=None, deal=deal, lost_reason="price")

    deal_reopen(actor=None, deal=deal)

    assert state(deal) == (False, False, "active", Decimal("60.00"), None)
    assert deal.actual_close_date is None
    assert deal.expected_revenue == Decimal("600.00")


def test_reopen_without_stage_sets_zero_probability(board):
    deal = new_deal(board)
    deal_mark_won(actor=None, deal=deal)
    Deal.objects.filter(pk=deal.pk).update(stage=None)

    deal_reopen(actor=None, deal=deal)

    assert state(deal) == (False, False, "active", Decimal("0.00"), None)


def test_reopen_of_an_open_deal_is_refused(board):
    deal = new_deal(board, status="inactive")

    with pytest.raises(DealTransitionError):
        deal_reopen(actor=None, deal=deal)

    assert state(deal) == (False, False, "inactive", Decimal("20.00"), None)


def test_move_stage_copies_probability(board):
    deal = new_deal(board)

    deal_move_stage(actor=None, deal=deal, stage_id=board["proposal"].pk)

    deal.refresh_from_db()
    assert (deal.stage_id, deal.probability) == (board["proposal"].pk, Decimal("60.00"))
    assert deal.expected_revenue == Decimal("600.00")


def test_move_stage_into_closed_stages(board):
    winner, loser = new_deal(board), new_deal(board)

    deal_move_stage(actor=None, deal=winner, stage_id=board["won"].pk)
    deal_move_stage(actor=None, deal=loser, stage_id=board["lost"].pk)

    assert state(winner) == WON
    assert state(loser) == (False, True, "closed", Decimal("0.00"), "")
    assert (winner.stage_id, loser.stage_id) == (board["won"].pk, board["lost"].pk)


@pytest.mark.parametrize(
    ("outcome", "target", "allowed"),
    [
        ("won", "won", True),
        ("won", "proposal", False),
        ("won", "lost", False),
        ("lost", "lost", True),
        ("lost", "won", False),
        ("lost", "lead", False),
    ],
)
def test_closed_deal_moves_only_into_a_stage_of_its_outcome(board, outcome, target, allowed):
    deal = new_deal(board)
    if outcome == "won":
        deal_mark_won(actor=None, deal=deal)
    else:
        deal_mark_lost(actor=None, deal=deal, lost_reason="r")
    before = state(deal)

    if allowed:
        deal_move_stage(actor=None, deal=deal, stage_id=board[target].pk)
        assert Deal.objects.get(pk=deal.pk).stage_id == board[target].pk
    else:
        with pytest.raises(DealTransitionError):
            deal_move_stage(actor=None, deal=deal, stage_id=board[target].pk)
        assert Deal.objects.get(pk=deal.pk).stage_id == board["lead"].pk
    assert state(deal) == before


def test_move_stage_outside_the_pipeline_is_not_found(board):
    deal = new_deal(board)
    other = PipelineStageFactory(pipeline=PipelineFactory(organization=deal.organization))

    with pytest.raises(StageNotFound):
        deal_move_stage(actor=None, deal=deal, stage_id=other.pk)
    Deal.objects.filter(pk=deal.pk).update(pipeline=None)
    with pytest.raises(StageNotFound):
        deal_move_stage(actor=None, deal=deal, stage_id=board["proposal"].pk)


def test_a_move_of_a_deal_read_under_lock_neither_locks_again_nor_reads_its_stage(
    board, is_postgres
):
    deal = new_deal(board)
    other = PipelineStageFactory(pipeline=PipelineFactory(organization=deal.organization))
    read = DealSelector().for_action(Deal.objects.filter(pk=deal.pk), "move_stage").get()

    with CaptureQueriesContext(connection) as ctx:
        moved = deal_move_stage(actor=None, deal=read, stage_id=board["proposal"].pk)
    with pytest.raises(StageNotFound):  # not among the pipeline's prefetched stages
        deal_move_stage(actor=None, deal=read, stage_id=other.pk)

    statements = [query["sql"] for query in ctx.captured_queries]
    # the deal, the history's close with the stay tallies' change (the stay it ends leaves the
    # open stays), its new row with the funnel tally's change and the new open stay, the audit
    # row and the event: on PostgreSQL the first ones as one statement and the rest as another;
    # elsewhere the tallies first read the deal's rows, then upsert (this deal has no history
    # rows: no stay to move)
    writes = [
        [part.split(" ", 1)[0] for part in sql.split(" AS (")[1:]] if is_postgres else [sql]
        for sql in statements
    ]
    if is_postgres:
        assert [sql.split(" ", 1)[0] for sql in statements] == ["WITH", "WITH"]
        assert writes == [
            ["UPDATE", "INSERT", "INSERT", "UPDATE"],
            ["INSERT", "INSERT", "INSERT", "INSERT", "INSERT"],
        ]
        assert "stay_tallies" in statements[0] and "open_stay_tallies" in statements[0]
        assert "stage_entry_tallies" in statements[1] and "open_stay_tallies" in statements[1]
        assert '"deals"' in statements[0] and '"deal_stage_history"' in statements[0]
    else:
        assert [sql.split(" ", 1)[0] for sql in statements] == [
            "UPDATE",
            "SELECT",
            "UPDATE",
            "SELECT",
            "INSERT",
            "INSERT",
            "INSERT",
            "INSERT",
            "INSERT",
        ]
        assert "stage_entry_tallies" in statements[4] and "open_stay_tallies" in statements[5]
    assert moved is read and moved.stage == board["proposal"]
    assert Deal.objects.get(pk=deal.pk).stage_id == board["proposal"].pk  # still usable


def test_a_refused_move_needs_no_savepoint_and_leaves_the_transaction_usable(board):
    deal = new_deal(board)
    deal_mark_won(actor=None, deal=deal)

    with CaptureQueriesContext(connection) as ctx, pytest.raises(DealTransitionError):
        deal_move_stage(actor=None, deal=deal, stage_id=board["proposal"].pk)

    assert not any("SAVEPOINT" in query["sql"] for query in ctx.captured_queries)
    assert Deal.objects.get(pk=deal.pk).is_won


def test_update_refuses_outcome_changes(board):
    deal = new_deal(board, title="Old")

    with pytest.raises(InvalidInput) as excinfo:
        deal_update(actor=None, deal=deal, is_won=True, status="closed", title="New")

    assert set(excinfo.value.details) == {"is_won", "status"}
    deal.refresh_from_db()
    assert (deal.title, deal.is_won, deal.status) == ("Old", False, "active")


def test_update_with_stage_into_closed_won_stage_wins(board):
    deal = new_deal(board)

    deal_update(actor=None, deal=deal, stage=board["won"])

    assert state(deal) == WON


# --- stats ------------------------------------------------------------------------------------


def test_stats_disambiguate_equal_stage_names_even_with_equal_pipeline_names(board):
    organization = board["pipeline"].organization
    twin = PipelineFactory(organization=organization, name="Sales")
    twin_lead = PipelineStageFactory(pipeline=twin, name="Lead")
    new_deal(board, value=Decimal(1))
    DealFactory(organization=organization, pipeline=twin, stage=twin_lead, value=Decimal(2))
    new_deal(board, stage=board["proposal"], value=None)

    stats = deal_stats(Deal.objects.filter(organization=organization))

    assert stats["by_stage"] == {
        "Lead (Sales)": {"count": 1, "value": 1.0},
        f"Lead (Sales #{twin.pk})": {"count": 1, "value": 2.0},
        "Proposal": {"count": 1, "value": 0.0},
    }


# --- concurrency (PostgreSQL only) ------------------------------------------------------------


def run_threads(targets) -> list:
    """Each call's outcome: "ok", "refused" (a transition error), or the exception that escaped."""
    return [
        "refused"
        if isinstance(result, DealTransitionError)
        else result
        if isinstance(result, Exception)
        else "ok"
        for result in run_concurrently(targets)
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_mark_won_and_move_stage_leave_a_consistent_deal():
    if connection.vendor != "postgresql":
        pytest.skip("real row locks need PostgreSQL")
    board = make_board(OrganizationFactory(rbac=False))
    deal = new_deal(board)
    targets = []
    for index in range(8):
        if index % 2:
            targets.append(lambda: deal_mark_won(actor=None, deal=Deal(pk=deal.pk)))
        else:
            targets.append(
                lambda: deal_move_stage(
                    actor=None, deal=Deal(pk=deal.pk), stage_id=board["proposal"].pk
                )
            )

    results = run_threads(targets)

    assert all(result in ("ok", "refused") for result in results), results
    assert [results[i] for i in range(1, 8, 2)] == ["ok"] * 4
    assert state(deal) == WON
    assert deal.actual_close_date == utc_today()
    assert deal.stage_id in (board["lead"].pk, board["proposal"].pk)
    assert deal.expected_revenue == Decimal("1000.00")


@pytest.mark.django_db(transaction=True)
def test_concurrent_mark_won_and_mark_lost_pick_exactly_one_outcome():
    if connection.vendor != "postgresql":
        pytest.skip("real row locks need PostgreSQL")
    board = make_board(OrganizationFactory(rbac=False))
    deal = new_deal(board)
    targets = [
        (lambda: deal_mark_won(actor=None, deal=Deal(pk=deal.pk)))
        if index % 2
        else (lambda: deal_mark_lost(actor=None, deal=Deal(pk=deal.pk), lost_reason="r"))
        for index in range(8)
    ]

    results = run_threads(targets)

    assert all(result in ("ok", "refused") for result in results), results
    final = state(deal)
    winners = [results[i] for i in range(1, 8, 2)]
    losers = [results[i] for i in range(0, 8, 2)]
    if final[0]:
        assert final == WON and winners == ["ok"] * 4 and losers == ["refused"] * 4
    else:
        assert final == (False, True, "closed", Decimal("0.00"), "r")
        assert losers == ["ok"] * 4 and winners == ["refused"] * 4
