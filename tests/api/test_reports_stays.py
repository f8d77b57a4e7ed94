"""The stay tallies equal what the stage history says after every kind of write, and time in
stage read from them is the report computed from the rows, figure for figure.

`plain_stays` works the tallies out here from the history rows and the deals' outcomes (finished
stays per stage, closed flag and duration bucket; open stays per stage, closed flag and day of
entry); each test writes through one path and compares. On PostgreSQL the report is also served
from the tallies and compared with the rows' `percentile_cont` (same `now`, same JSON).
"""

import datetime as dt
import importlib
from collections import Counter
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import Deal, DealStageHistory, OpenStayTally, StayTally
from crmApp.models import stays as arithmetic
from crmApp.selectors import reports, stays
from crmApp.selectors.reports import ReportFilters
from crmApp.services import stage_tallies
from crmApp.services.deals import deal_mark_won, deal_move_stage, deal_reopen
from crmApp.services.stage_tallies import stage_tallies_kept
from tests.api import test_reports_tallies as tallies
from tests.api.test_reports_tallies import (
    _admin_url,
    _moment,
    create_deal,
    eight_deals_in_a_first_stage,
)
from tests.concurrency import run_concurrently
from tests.factories import (
    CustomerFactory,
    PipelineFactory,
    PipelineStageFactory,
)
from tests.stays_support import plain_stays, stored_stays
from tests.test_admin import _form_data

pytestmark = pytest.mark.django_db
# The funnel tallies' fixtures: a pipeline of four stages, a superuser's admin client.
sales, boss = tallies.sales, tallies.boss

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def both_ways(organization, **narrowing) -> tuple[dict, dict]:
    """Time in stage as served (from the tallies on PostgreSQL) and from the rows."""
    filters = ReportFilters(organization_ids=frozenset({organization.pk}), **narrowing)
    served = reports.time_in_stage(filters)
    original = reports._stay_tallies_answer
    reports._stay_tallies_answer = lambda _filters, _vendor: False
    try:
        from_rows = reports.time_in_stage(filters)
    finally:
        reports._stay_tallies_answer = original
    return served, from_rows


def assert_in_step(organization, pipeline=None) -> None:
    assert stored_stays() == plain_stays()
    for narrowing in ({}, {"pipeline_id": pipeline.pk} if pipeline else {}):
        served, from_rows = both_ways(organization, **narrowing)
        assert served == from_rows, narrowing


def test_every_deal_service_write_keeps_the_stays(owner, org, sales):
    pipeline, (lead, offer, won, lost), _customer = sales
    deal = create_deal(owner, org, sales, lead)
    url = f"/api/deals/{deal}/"
    assert_in_step(org, pipeline)
    steps = [
        ("patch", url, {"stage_id": offer.pk}),
        ("post", f"{url}move_stage/", {"stage_id": lead.pk}),
        ("post", f"{url}move_stage/", {"stage_id": offer.pk}),
        ("post", f"{url}mark_won/", None),  # its finished stays move to the closed flag
        ("post", f"{url}reopen/", None),  # and back
        ("post", f"{url}mark_lost/", {"lost_reason": "price"}),
        ("post", f"{url}reopen/", None),
        ("post", f"{url}move_stage/", {"stage_id": won.pk}),  # a closed-won stage
    ]
    for method, path, body in steps:
        response = getattr(owner.client, method)(path, body, format="json")
        assert response.status_code == 200, (path, response.content)
        assert_in_step(org, pipeline)
    create_deal(owner, org, sales, lost)
    assert_in_step(org, pipeline)
    finished = sum(v for k, v in stored_stays().items() if k[0] == "finished" and k[-1] == "stays")
    # Lead, Offer, Lead, Offer (then won: an outcome row), Offer again after each reopen.
    assert finished == 6
    assert {k[3] for k in stored_stays() if k[0] == "finished"} == {True}


def test_deleting_deals_and_rows_takes_their_stays_away(owner, org, sales):
    pipeline, (lead, offer, _won, _lost), _customer = sales
    deals = [create_deal(owner, org, sales, lead) for _ in range(4)]
    for deal in deals:
        owner.client.post(f"/api/deals/{deal}/move_stage/", {"stage_id": offer.pk}, format="json")
    owner.client.post(f"/api/deals/{deals[3]}/mark_won/", format="json")

    single = owner.client.delete(f"/api/deals/{deals[0]}/")
    assert_in_step(org, pipeline)
    many = owner.client.post("/api/deals/bulk_delete/", {"ids": deals[1:3]}, format="json")

    assert (single.status_code, many.status_code) == (204, 200)
    assert_in_step(org, pipeline)
    assert stored_stays() != Counter()


def test_admin_writes_keep_the_stays(owner, org, sales, boss):
    pipeline, (lead, offer, _won, _lost), _customer = sales
    first, second = create_deal(owner, org, sales, lead), create_deal(owner, org, sales, lead)
    owner.client.post(f"/api/deals/{first}/move_stage/", {"stage_id": offer.pk}, format="json")
    row = DealStageHistory.objects.get(deal_id=first, stage=offer)
    earlier = dt.datetime(2025, 5, 4, 23, 59, 59, tzinfo=dt.UTC)

    form = _moment(_form_data(row), "entered_at", earlier)
    form = _moment(form, "left_at", earlier + dt.timedelta(hours=1))
    added = boss.post(_admin_url("dealstagehistory", "add"), {**form, "organization": org.pk})
    assert added.status_code == 302, added.context["adminform"].form.errors
    assert_in_step(org, pipeline)
    changed = boss.post(
        _admin_url("dealstagehistory", "change", row.pk), {**_form_data(row), "stage": lead.pk}
    )
    assert changed.status_code == 302
    assert_in_step(org, pipeline)
    row.refresh_from_db()
    closed = _moment(_form_data(row), "left_at", row.entered_at + dt.timedelta(hours=2))
    moved = boss.post(_admin_url("dealstagehistory", "change", row.pk), {**closed, "deal": second})
    assert moved.status_code == 302
    assert_in_step(org, pipeline)
    deleted = boss.post(_admin_url("dealstagehistory", "delete", row.pk), {"post": "yes"})
    assert deleted.status_code == 302
    assert_in_step(org, pipeline)
    rows = list(DealStageHistory.objects.filter(deal_id=first))
    bulk = boss.post(
        _admin_url("dealstagehistory", "changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(r.pk) for r in rows],
            "index": "0",
            "post": "yes",
        },
    )
    assert bulk.status_code == 302
    assert_in_step(org, pipeline)
    won = boss.post(
        _admin_url("deal", "changelist"),
        {"action": "mark_won", "_selected_action": [str(second)], "index": "0"},
    )
    assert won.status_code == 302
    assert_in_step(org, pipeline)
    gone = boss.post(_admin_url("deal", "delete", second), {"post": "yes"})
    assert gone.status_code == 302
    assert_in_step(org, pipeline)
    assert stored_stays() == Counter()


def test_deleted_stages_take_their_stays_along(owner, org, sales):
    pipeline, (lead, offer, _won, _lost), _customer = sales
    deals = [create_deal(owner, org, sales, lead) for _ in range(3)]
    owner.client.post(f"/api/deals/{deals[0]}/move_stage/", {"stage_id": offer.pk}, format="json")
    owner.client.post(f"/api/deals/{deals[0]}/move_stage/", {"stage_id": lead.pk}, format="json")
    spare = PipelineStageFactory(pipeline=pipeline, name="Spare", order=4)

    moved = owner.client.delete(f"/api/pipeline-stages/{lead.pk}/?move_to={spare.pk}")
    assert moved.status_code == 204
    assert_in_step(org, pipeline)
    offer.delete()  # no deal there now; its history keeps its rows, under no stage
    assert_in_step(org, pipeline)
    assert {key[2] for key in stored_stays()} == {spare.pk}


def _stay(org, deal, stage, entered, left=None):
    DealStageHistory.objects.create(
        organization=org, deal=deal, stage=stage, entered_at=entered, left_at=left
    )


def _deal(org, customer, title, **outcome) -> Deal:
    return Deal.objects.create(organization=org, title=title, customer=customer, **outcome)


@pytest.fixture
def stays_world(org, other_org, sales):
    """Ties, a one-stay group, open stays (one on a rounding step of the average), won, lost
    and reopened deals, two pipelines, and another organization's stays."""
    pipeline, (lead, offer, _won, _lost), customer = sales
    second = PipelineFactory(organization=org, name="Renewals")
    renew = PipelineStageFactory(pipeline=second, name="Renew", order=0)
    hour = dt.timedelta(hours=1)
    start = NOW - dt.timedelta(days=40)
    deals = [
        _deal(org, customer, f"D{n}", **({"is_won": True} if n % 3 == 0 else {})) for n in range(9)
    ]
    deals.append(_deal(org, customer, "lost", is_lost=True))
    renewal = _deal(org, customer, "renewal", is_won=True)
    with stage_tallies_kept(Deal, [deal.pk for deal in (*deals, renewal)]):
        for n, deal in enumerate(deals):
            entered = start + dt.timedelta(days=n, minutes=7 * n)
            # Ties: every third deal spends exactly 3 h in Lead.
            lead_hours = 3 if n % 3 == 0 else 2 + n * 1.37
            left = entered + lead_hours * hour
            _stay(org, deal, lead, entered, left)
            if n % 2:
                _stay(org, deal, offer, left, left + dt.timedelta(days=n, seconds=n))
                _stay(org, deal, lead, left + dt.timedelta(days=n, seconds=n))  # still open
            else:
                _stay(org, deal, offer, left)  # still open, for weeks
        # One stay in the second pipeline; one open stay of exactly 0.125 days (3 h): its
        # group's mean sits on a rounding step.
        _stay(org, deals[1], renew, start, start + dt.timedelta(minutes=90))
        _stay(org, renewal, renew, NOW - 3 * hour)
    theirs = PipelineStageFactory(pipeline=PipelineFactory(organization=other_org))
    foreign = _deal(other_org, CustomerFactory(organization=other_org), "F")
    with stage_tallies_kept(Deal, [foreign.pk]):
        _stay(other_org, foreign, theirs, start, start + 5 * hour)
        _stay(other_org, foreign, lead, start, start + 7 * hour)  # another tenant's row here
    return pipeline, second


def test_time_in_stage_from_the_tallies_is_the_report_of_the_rows(org, other_org, stays_world):
    pipeline, second = stays_world
    assert stored_stays() == plain_stays()
    for organization in (org, other_org):
        for narrowing in ({}, {"pipeline_id": pipeline.pk}, {"pipeline_id": second.pk}):
            served, from_rows = both_ways(organization, now=NOW, **narrowing)
            assert served == from_rows, (organization, narrowing)
    served, _ = both_ways(org, now=NOW)
    by_name = {(s["pipeline_name"], s["stage_name"]): s for s in served["stages"]}
    assert by_name[("Renewals", "Renew")]["open_deals"] == {
        "count": 1,
        "average_days": 0.06,
        "median_days": 0.06,
        "p90_days": 0.06,
    }
    assert by_name[("Renewals", "Renew")]["closed_deals"]["average_days"] == 0.12
    # Won or lost: deals 0, 3, 6 and the lost one (4 finished, 2 open stays); open: 6 and 3.
    # The other organization's 7 h in Lead never counts here.
    assert by_name[("Sales", "Lead")]["closed_deals"]["count"] == 6
    assert by_name[("Sales", "Lead")]["open_deals"]["count"] == 9


def test_the_tallies_answer_in_three_queries_whatever_the_data(org, stays_world):
    """Summed cells first (per leading digit), the buckets of those the ranks fall in, then
    their rows."""
    if connection.vendor != "postgresql":
        pytest.skip("the tallies serve the report on PostgreSQL")
    filters = ReportFilters(organization_ids=frozenset({org.pk}), now=NOW)
    with CaptureQueriesContext(connection) as ctx:
        served = reports.time_in_stage(filters)
    assert len(ctx.captured_queries) == 3
    first, second, third = (query["sql"] for query in ctx.captured_queries)
    assert "stay_tallies" in first and "'coarse'" in first
    assert "stay_tallies" in second and "BETWEEN w.low AND w.high" in second
    assert "deal_stage_history" in third
    assert served == both_ways(org, now=NOW)[1]


def test_a_summed_cell_spans_one_leading_digit_and_one_day_scale():
    for first in (3100, 3900, 11100, 11800, 11900, 15900, 19100):
        low, high = stays.coarse_range(first)
        buckets = {arithmetic.stay_bucket(micros) for micros in (low, high)}
        assert buckets == {first, first + 99}, first
        assert arithmetic.stay_bucket(low - 1) < first
        assert arithmetic.stay_bucket(high + 1) > first + 99
        assert arithmetic.day_scale(low) == arithmetic.day_scale(high), first


def test_a_write_between_the_queries_falls_back_to_the_rows(org, stays_world, monkeypatch):
    """Each query reads the database as it is then: when a deal's stays went away after the
    tallies were read, the report is the rows' (never a 500)."""
    if connection.vendor != "postgresql":
        pytest.skip("the tallies serve the report on PostgreSQL")
    read_values = stays._read_values

    def racing(cursor, *args):
        # As a concurrent delete would: gone from the history, still in the tallies read.
        DealStageHistory.objects.filter(organization=org)._raw_delete(connection.alias)
        return read_values(cursor, *args)

    monkeypatch.setattr(stays, "_read_values", racing)
    filters = ReportFilters(organization_ids=frozenset({org.pk}), now=NOW)

    assert reports.time_in_stage(filters) == {"stages": []}


def test_the_migration_builds_the_tallies_from_the_stored_history(org, stays_world):
    expected = stored_stays()
    StayTally.objects.all().delete()
    OpenStayTally.objects.all().delete()
    migration = importlib.import_module("crmApp.migrations.0013_stay_tallies")

    class Editor:
        def execute(self, sql, params=None):
            with connection.cursor() as cursor:
                cursor.execute(sql, params)

    editor = Editor()
    editor.connection = connection
    migration.tally_finished_stays(apps, editor)
    migration.tally_open_stays(apps, editor)

    assert stored_stays() == expected == plain_stays()


def test_a_rebuild_after_a_bulk_load_is_the_history(org, sales, monkeypatch):
    _pipeline, (lead, offer, _won, _lost), customer = sales
    monkeypatch.setattr(stage_tallies, "APPLY_BATCH", 2)
    for number in range(4):
        deal = _deal(org, customer, f"B{number}", **({"is_lost": True} if number == 1 else {}))
        entered = NOW - dt.timedelta(days=10 - number)
        _stay(org, deal, lead, entered, entered + dt.timedelta(hours=number + 1))
        _stay(org, deal, offer, entered + dt.timedelta(hours=number + 1))
    assert stored_stays() == Counter()

    stage_tallies.stage_tallies_rebuild(organization_id=org.pk)

    assert stored_stays() == plain_stays() != Counter()


def test_the_python_arithmetic_is_postgresqls():
    if connection.vendor != "postgresql":
        pytest.skip("the SQL functions exist on PostgreSQL")
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    values = [0, 1, -1, 99, 100, -100, 899, 900, 8_999_999, 9_000_000, 86_400_000_000]
    values += [89_999_999_999, 90_000_000_000, 899_999_999_999_999, 900_000_000_000_000]
    values += [3_600_000_000 * h + s for h in (1, 7, 25, 479) for s in (0, 1, 499_999)]
    with connection.cursor() as cursor:
        for micros in values:
            left = base + dt.timedelta(microseconds=micros)
            cursor.execute(
                "SELECT stay_micros(%s, %s), stay_bucket(%s), stay_residue(%s), "
                "EXTRACT(EPOCH FROM (%s::timestamp - %s::timestamp)) / 86400.0",
                [base, left, micros, micros, left, base],
            )
            assert cursor.fetchone() == (
                micros,
                arithmetic.stay_bucket(micros),
                arithmetic.stay_residue(micros),
                arithmetic.stay_days(micros),
            ), micros
            low, high = arithmetic.bucket_range(arithmetic.stay_bucket(micros))
            assert low <= micros <= high
        groups = [values[:5], values[5:12], values[12:], [86_400_000_000] * 3, [1, 2]]
        for group in groups:
            moments = [base + dt.timedelta(microseconds=micros) for micros in group]
            cursor.execute(
                "SELECT AVG(EXTRACT(EPOCH FROM (x::timestamp - %s::timestamp)) / 86400.0) "
                "FROM unnest(%s::timestamptz[]) AS x",
                [base, moments],
            )
            (average,) = cursor.fetchone()
            scale = max(arithmetic.day_scale(micros) for micros in group)
            units = sum(
                arithmetic.units_of_sums(
                    micros, arithmetic.stay_residue(micros), arithmetic.day_scale(micros), scale
                )
                for micros in group
            )
            assert arithmetic.pg_average(units, scale, len(group)) == float(average), group
    assert arithmetic.stay_days(3_600_000_000) == Decimal("0.04166666666666666667")


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_keep_the_stays():
    if connection.vendor != "postgresql":
        pytest.skip("real row locks need PostgreSQL")
    _organization, offer, deals = eight_deals_in_a_first_stage()

    def move(deal):
        def run():
            deal_move_stage(actor=None, deal=Deal(pk=deal.pk), stage_id=offer.pk)
            deal_mark_won(actor=None, deal=Deal.objects.get(pk=deal.pk))
            deal_reopen(actor=None, deal=Deal.objects.get(pk=deal.pk))

        return run

    results = run_concurrently([move(deal) for deal in deals])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert stored_stays() == plain_stays()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_histories_give_the_rows_report(org, sales, seed):
    """Finished and open stays of overlapping durations (whole hours, so with ties, to the
    microsecond, and under 2 ms), deals of both flags: the tallies' report is the rows'
    report."""
    import random

    pipeline, (lead, offer, _won, _lost), customer = sales
    rng = random.Random(seed)
    deals = []
    for number in range(40):
        outcome = rng.choice([{}, {}, {"is_won": True}, {"is_lost": True}])
        deals.append(_deal(org, customer, f"R{number}", **outcome))
    with stage_tallies_kept(Deal, [deal.pk for deal in deals]):
        for deal in deals:
            moment = NOW - dt.timedelta(
                days=rng.randrange(1, 30), microseconds=rng.randrange(10**6)
            )
            for step in range(rng.randrange(1, 5)):
                stage = rng.choice([lead, offer])
                draw = rng.random()
                if draw < 0.4:
                    lasted = dt.timedelta(hours=rng.randrange(1, 72))
                elif draw < 0.55:  # moved on at once: buckets of durations never summed
                    lasted = dt.timedelta(microseconds=rng.randrange(0, 2000))
                else:
                    lasted = dt.timedelta(microseconds=rng.randrange(1, 5 * 86_400_000_000))
                left = moment + lasted
                if left >= NOW or step == 3:
                    _stay(org, deal, stage, moment)  # still open
                    break
                _stay(org, deal, stage, moment, left)
                moment = left
    assert stored_stays() == plain_stays()
    for narrowing in ({}, {"pipeline_id": pipeline.pk}):
        served, from_rows = both_ways(org, now=NOW, **narrowing)
        assert served == from_rows, narrowing


def test_a_transition_reads_the_deals_rows_by_its_id_whatever_the_statistics(org, sales):
    """The stay tallies' statements of a move read the deal's own rows: the partial index of
    every open stay must not even be a candidate (with stale statistics the planner walked all
    of it, for each move)."""
    if connection.vendor != "postgresql":
        pytest.skip("the statements are PostgreSQL's")
    _pipeline, (lead, _offer, _won, _lost), customer = sales
    deal = _deal(org, customer, "Plan")
    with stage_tallies_kept(Deal, [deal.pk]):
        _stay(org, deal, lead, NOW - dt.timedelta(days=2))
    # The parameters `stay_tally_transition` sends for a move of an open deal.
    moved = [org.pk, False, NOW, deal.pk, False, deal.pk, False, False, deal.pk, False]
    statements = [
        (stage_tallies.TRANSITION_SQL, moved),
        (stage_tallies.OPEN_LEFT_SQL, [org.pk, False, deal.pk]),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "stay_history_open_entered" not in plan, plan
            assert "deal_id" in plan, plan
