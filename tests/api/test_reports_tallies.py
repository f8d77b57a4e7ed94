"""The funnel's first-entry tallies equal what the stage history says after every kind of write.

`plain_tallies` works the tallies out here from the history rows (per organization, stage and
deal, the UTC day of its earliest row); each test writes through one path (the API's deal
actions, deletes, bulk actions, the admin, a stage's deletion) and compares, and checks that the
funnel read from the tallies is the funnel counted from the history rows.
"""

import datetime as dt
import importlib
from collections import Counter

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crmApp.models import Deal, DealStageHistory, StageEntryTally, User
from crmApp.selectors import reports
from crmApp.selectors.reports import ReportFilters
from crmApp.services import stage_tallies
from crmApp.services.deals import deal_create, deal_move_stage
from crmApp.services.stage_tallies import stage_tallies_kept
from tests.concurrency import run_concurrently
from tests.factories import (
    CustomerFactory,
    EmployeeFactory,
    OrganizationFactory,
    PipelineFactory,
    PipelineStageFactory,
)
from tests.test_admin import _form_data

pytestmark = pytest.mark.django_db


def plain_tallies() -> Counter:
    """Per organization, stage and UTC day: (deals first in that day, deals last in that day)."""
    entries: dict[tuple, list[dt.datetime]] = {}
    for row in DealStageHistory.objects.filter(stage__isnull=False).values(
        "organization_id", "stage_id", "deal_id", "entered_at"
    ):
        key = (row["organization_id"], row["stage_id"], row["deal_id"])
        entries.setdefault(key, []).append(row["entered_at"])
    tallies: Counter = Counter()
    for (organization, stage, _deal), moments in entries.items():
        tallies[(organization, stage, min(moments).astimezone(dt.UTC).date(), "first")] += 1
        tallies[(organization, stage, max(moments).astimezone(dt.UTC).date(), "last")] += 1
    return tallies


def stored_tallies() -> Counter:
    tallies: Counter = Counter()
    for organization, stage, day, first, last in StageEntryTally.objects.values_list(
        "organization_id", "stage_id", "day", "first_entries", "last_entries"
    ):
        assert first >= 0 and last >= 0
        tallies[(organization, stage, day, "first")] += first
        tallies[(organization, stage, day, "last")] += last
    return +tallies  # zero counts dropped


def funnel_both_ways(organization, **narrowing) -> tuple[dict, dict]:
    """The funnel as served (from the tallies when they answer) and counted from the rows."""
    filters = ReportFilters(organization_ids=frozenset({organization.pk}), **narrowing)
    assert reports._tallies_answer(filters)
    served = reports.funnel(filters)
    original = reports._tallies_answer
    reports._tallies_answer = lambda _filters: False
    try:
        counted = reports.funnel(filters)
    finally:
        reports._tallies_answer = original
    return served, counted


def assert_in_step(organization) -> None:
    assert stored_tallies() == plain_tallies()
    today = dt.datetime.now(dt.UTC).date()
    for narrowing in ({}, {"start": today}, {"end": today - dt.timedelta(days=1)}):
        served, counted = funnel_both_ways(organization, **narrowing)
        assert served == counted, narrowing


@pytest.fixture
def sales(org):
    pipeline = PipelineFactory(organization=org, name="Sales")
    stages = [
        PipelineStageFactory(pipeline=pipeline, name="Lead", order=0, probability=10),
        PipelineStageFactory(pipeline=pipeline, name="Offer", order=1, probability=50),
        PipelineStageFactory(pipeline=pipeline, name="Won", order=2, is_closed_won=True),
        PipelineStageFactory(pipeline=pipeline, name="Lost", order=3, is_closed_lost=True),
    ]
    return pipeline, stages, CustomerFactory(organization=org)


def create_deal(member, org, sales, stage, **fields) -> int:
    pipeline, _stages, customer = sales
    response = member.client.post(
        "/api/deals/",
        {
            "organization": org.pk,
            "title": "T",
            "customer_id": customer.pk,
            "pipeline_id": pipeline.pk,
            "stage_id": stage.pk,
            **fields,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_every_deal_service_write_keeps_the_tallies(owner, org, sales):
    _pipeline, (lead, offer, won, lost), _customer = sales
    deal = create_deal(owner, org, sales, lead)
    url = f"/api/deals/{deal}/"
    assert_in_step(org)
    steps = [
        ("patch", url, {"stage_id": offer.pk}),  # update into another stage
        ("post", f"{url}move_stage/", {"stage_id": lead.pk}),  # back: not a first entry
        ("post", f"{url}mark_won/", None),
        ("post", f"{url}reopen/", None),
        ("post", f"{url}mark_lost/", {"lost_reason": "price"}),
        ("post", f"{url}reopen/", None),
        ("post", f"{url}move_stage/", {"stage_id": won.pk}),  # a closed-won stage
    ]
    for method, path, body in steps:
        response = getattr(owner.client, method)(path, body, format="json")
        assert response.status_code == 200, (path, response.content)
        assert_in_step(org)
    straight_to_lost = create_deal(owner, org, sales, lost)
    assignee = EmployeeFactory(organization=org)
    bulk = owner.client.post(
        "/api/deals/bulk_update/",
        {"ids": [deal, straight_to_lost], "data": {"assigned_to_id": assignee.pk}},
        format="json",
    )

    assert bulk.status_code == 200
    assert_in_step(org)
    served, _ = funnel_both_ways(org)
    reached = [s["reached"] for s in served["pipelines"][0]["stages"]]
    assert reached == [1, 1, 1, 1]  # the first deal entered each stage once; the second, Lost
    today = dt.datetime.now(dt.UTC).date()
    stages = (lead, offer, won, lost)
    assert stored_tallies() == Counter(
        {(org.pk, s.pk, today, kind): 1 for s in stages for kind in ("first", "last")}
    )


def test_deleting_deals_takes_their_first_entries_away(owner, org, sales):
    _pipeline, (lead, offer, _won, _lost), _customer = sales
    deals = [create_deal(owner, org, sales, lead) for _ in range(4)]
    for deal in deals:
        owner.client.post(f"/api/deals/{deal}/move_stage/", {"stage_id": offer.pk}, format="json")

    single = owner.client.delete(f"/api/deals/{deals[0]}/")
    assert_in_step(org)
    many = owner.client.post("/api/deals/bulk_delete/", {"ids": deals[1:3]}, format="json")

    assert (single.status_code, many.status_code) == (204, 200)
    assert_in_step(org)
    assert sum(stored_tallies().values()) == 4  # the last deal's first and latest: Lead, Offer


@pytest.fixture
def boss(client, org):
    superuser = User.objects.create_superuser("tally@example.com", "tally", "Sturdy-Passw0rd!")
    client.force_login(superuser)
    return client


def _admin_url(model: str, view: str, *args) -> str:
    return reverse(f"admin:crmApp_{model}_{view}", args=args)


def _moment(data: dict, name: str, moment: dt.datetime) -> dict:
    return {
        **data,
        f"{name}_0": moment.date().isoformat(),
        f"{name}_1": moment.strftime("%H:%M:%S"),
    }


def test_admin_writes_keep_the_tallies(owner, org, sales, boss):
    _pipeline, (lead, offer, _won, _lost), _customer = sales
    first, second = create_deal(owner, org, sales, lead), create_deal(owner, org, sales, lead)
    owner.client.post(f"/api/deals/{first}/move_stage/", {"stage_id": offer.pk}, format="json")
    row = DealStageHistory.objects.get(deal_id=first, stage=offer)
    earlier = dt.datetime(2025, 5, 4, 23, 59, 59, tzinfo=dt.UTC)

    # A history row dated earlier by hand: the deal's first entry into Offer moves to that day.
    form = _moment(_form_data(row), "entered_at", earlier)
    form = _moment(form, "left_at", earlier + dt.timedelta(hours=1))
    added = boss.post(_admin_url("dealstagehistory", "add"), {**form, "organization": org.pk})
    assert added.status_code == 302, added.context["adminform"].form.errors
    assert_in_step(org)
    # A row moved to another stage, then to another deal.
    changed = boss.post(
        _admin_url("dealstagehistory", "change", row.pk), {**_form_data(row), "stage": lead.pk}
    )
    assert changed.status_code == 302
    assert_in_step(org)
    row.refresh_from_db()
    closed = _moment(_form_data(row), "left_at", row.entered_at + dt.timedelta(hours=1))
    moved = boss.post(_admin_url("dealstagehistory", "change", row.pk), {**closed, "deal": second})
    assert moved.status_code == 302
    assert_in_step(org)
    # Rows deleted one by one and in bulk.
    deleted = boss.post(_admin_url("dealstagehistory", "delete", row.pk), {"post": "yes"})
    assert deleted.status_code == 302
    assert_in_step(org)
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
    assert not DealStageHistory.objects.filter(deal_id=first).exists()
    assert_in_step(org)
    # The admin's transition action and its deal deletion.
    won = boss.post(
        _admin_url("deal", "changelist"),
        {"action": "mark_won", "_selected_action": [str(second)], "index": "0"},
    )
    assert won.status_code == 302
    assert Deal.objects.get(pk=second).is_won
    assert_in_step(org)
    gone = boss.post(_admin_url("deal", "delete", second), {"post": "yes"})
    assert gone.status_code == 302
    assert_in_step(org)
    assert stored_tallies() == Counter()


def test_a_deleted_stage_takes_its_tallies_along(owner, org, sales):
    _pipeline, (lead, offer, _won, _lost), _customer = sales
    deal = create_deal(owner, org, sales, lead)
    owner.client.post(f"/api/deals/{deal}/move_stage/", {"stage_id": offer.pk}, format="json")

    lead.delete()  # the history keeps its rows, under no stage

    assert_in_step(org)
    today = dt.datetime.now(dt.UTC).date()
    assert set(stored_tallies()) == {
        (org.pk, offer.pk, today, "first"),
        (org.pk, offer.pk, today, "last"),
    }


def test_deleting_a_stage_that_moves_its_deals_elsewhere_keeps_the_tallies(owner, org, sales):
    _pipeline, (lead, offer, _won, _lost), _customer = sales
    deals = [create_deal(owner, org, sales, lead) for _ in range(2)]
    owner.client.post(f"/api/deals/{deals[0]}/move_stage/", {"stage_id": offer.pk}, format="json")
    owner.client.post(f"/api/deals/{deals[0]}/move_stage/", {"stage_id": lead.pk}, format="json")

    response = owner.client.delete(f"/api/pipeline-stages/{lead.pk}/?move_to={offer.pk}")

    assert response.status_code == 204
    assert_in_step(org)
    today = dt.datetime.now(dt.UTC).date()
    assert stored_tallies() == Counter(
        {(org.pk, offer.pk, today, "first"): 2, (org.pk, offer.pk, today, "last"): 2}
    )


def test_the_funnel_from_tallies_is_the_funnel_of_the_rows_for_every_end_day(org, sales):
    pipeline, (lead, offer, won, _lost), customer = sales
    moments = {
        "a": [(lead, "2026-01-01T23:59:59"), (offer, "2026-01-02T00:00:00")],
        "b": [(lead, "2026-01-02T10:00"), (offer, "2026-01-03T10:00"), (lead, "2026-01-05T10:00")],
        "c": [(offer, "2026-01-04T00:00"), (won, "2026-01-06T12:00")],
    }
    for name, entries in moments.items():
        deal = Deal.objects.create(organization=org, title=name, customer=customer)
        times = [dt.datetime.fromisoformat(m).replace(tzinfo=dt.UTC) for _, m in entries]
        with stage_tallies_kept(Deal, [deal.pk]):
            for (stage, _), entered, left in zip(entries, times, [*times[1:], None], strict=True):
                DealStageHistory.objects.create(
                    organization=org, deal=deal, stage=stage, entered_at=entered, left_at=left
                )

    days = [dt.date(2025, 12, 31), *(dt.date(2026, 1, day) for day in range(1, 8))]
    for pipeline_id in (None, pipeline.pk):
        for end in [None, *days]:
            served, counted = funnel_both_ways(org, end=end, pipeline_id=pipeline_id)
            assert served == counted, (end, pipeline_id)
        for start in days:
            served, counted = funnel_both_ways(org, start=start, pipeline_id=pipeline_id)
            assert served == counted, (start, pipeline_id)
    until_3rd, _ = funnel_both_ways(org, end=dt.date(2026, 1, 3))
    from_4th, _ = funnel_both_ways(org, start=dt.date(2026, 1, 4))
    assert [s["reached"] for s in until_3rd["pipelines"][0]["stages"]] == [2, 2, 0, 0]
    # b came back to Lead on the 5th; c entered Offer on the 4th and Won on the 6th.
    assert [s["reached"] for s in from_4th["pipelines"][0]["stages"]] == [1, 1, 1, 0]


def test_tallies_count_for_their_own_organization_only(owner, other_owner, org, other_org, sales):
    _pipeline, (lead, _offer, _won, _lost), _customer = sales
    create_deal(owner, org, sales, lead)
    pipeline = PipelineFactory(organization=other_org)
    theirs = PipelineStageFactory(pipeline=pipeline, order=0)
    customer = CustomerFactory(organization=other_org)
    for _ in range(3):
        response = other_owner.client.post(
            "/api/deals/",
            {
                "organization": other_org.pk,
                "title": "T",
                "customer_id": customer.pk,
                "pipeline_id": pipeline.pk,
                "stage_id": theirs.pk,
            },
            format="json",
        )
        assert response.status_code == 201

    today = dt.datetime.now(dt.UTC).date()
    assert stored_tallies() == Counter(
        {
            (org.pk, lead.pk, today, "first"): 1,
            (org.pk, lead.pk, today, "last"): 1,
            (other_org.pk, theirs.pk, today, "first"): 3,
            (other_org.pk, theirs.pk, today, "last"): 3,
        }
    )
    ours = owner.client.get("/api/reports/funnel/").json()
    assert [p["id"] for p in ours["pipelines"]] == [sales[0].pk]
    assert [s["reached"] for s in ours["pipelines"][0]["stages"]] == [1, 0, 0, 0]
    for organization in (org, other_org):
        served, counted = funnel_both_ways(organization)
        assert served == counted


def test_the_migration_builds_the_tallies_from_the_stored_history(owner, org, sales):
    _pipeline, (lead, offer, _won, _lost), _customer = sales
    for _ in range(3):
        deal = create_deal(owner, org, sales, lead)
        owner.client.post(f"/api/deals/{deal}/move_stage/", {"stage_id": offer.pk}, format="json")
        owner.client.post(f"/api/deals/{deal}/move_stage/", {"stage_id": lead.pk}, format="json")
    expected = stored_tallies()
    StageEntryTally.objects.all().delete()
    migration = importlib.import_module("crmApp.migrations.0012_stage_entry_tallies")

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    migration.tally_first_entries(apps, editor)

    assert stored_tallies() == expected == plain_tallies()
    assert sum(expected.values()) == 12  # 3 deals x 2 stages, first and latest


def test_the_unnarrowed_funnel_is_one_query_whatever_the_data(owner, org, sales):
    _pipeline, (lead, offer, _won, _lost), _customer = sales

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = owner.client.get("/api/reports/funnel/?to=2030-01-01")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    with CaptureQueriesContext(connection) as ctx:
        owner.client.get("/api/reports/funnel/?colour=red")  # auth + access only (400)
    baseline = len(ctx.captured_queries)
    one = count()
    for _ in range(5):
        deal = create_deal(owner, org, sales, lead)
        owner.client.post(f"/api/deals/{deal}/move_stage/", {"stage_id": offer.pk}, format="json")
    many = count()

    assert one == many == baseline + 1


def test_a_rebuild_after_a_bulk_load_is_the_history(org, other_org, sales, monkeypatch):
    _pipeline, (lead, offer, _won, _lost), customer = sales
    monkeypatch.setattr(stage_tallies, "APPLY_BATCH", 2)  # several upsert statements
    start = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    for number in range(4):  # loaded past the services: no tallies kept
        deal = Deal.objects.create(organization=org, title=f"D{number}", customer=customer)
        for step, stage in enumerate((lead, offer, lead)):
            DealStageHistory.objects.create(
                organization=org,
                deal=deal,
                stage=stage,
                entered_at=start + dt.timedelta(days=number + step),
                left_at=None if step == 2 else start + dt.timedelta(days=number + step + 1),
            )
    theirs = PipelineStageFactory(pipeline=PipelineFactory(organization=other_org))
    foreign = Deal.objects.create(
        organization=other_org, title="F", customer=CustomerFactory(organization=other_org)
    )
    with stage_tallies_kept(Deal, [foreign.pk]):
        DealStageHistory.objects.create(
            organization=other_org, deal=foreign, stage=theirs, entered_at=start
        )
    assert stored_tallies() != plain_tallies()

    written = stage_tallies.stage_tallies_rebuild(organization_id=org.pk)

    assert stored_tallies() == plain_tallies()
    # Lead: first on days 1-4, latest on days 3-6; Offer: days 2-5.
    assert written == StageEntryTally.objects.filter(organization=org).count() == 6 + 4
    assert_in_step(org)


def eight_deals_in_a_first_stage():
    """An organization with a two-stage pipeline and eight deals created in its first stage
    (for transitions run concurrently): the organization, the second stage, the deals."""
    organization = OrganizationFactory(rbac=False)
    pipeline = PipelineFactory(organization=organization)
    lead, offer = (PipelineStageFactory(pipeline=pipeline, order=n) for n in range(2))
    customer = CustomerFactory(organization=organization)
    deals = [
        deal_create(
            actor=None, organization=organization, customer=customer, pipeline=pipeline, stage=lead
        )
        for _ in range(8)
    ]
    return organization, offer, deals


@pytest.mark.django_db(transaction=True)
def test_concurrent_entries_into_one_stage_are_all_counted():
    if connection.vendor != "postgresql":
        pytest.skip("real row locks need PostgreSQL")
    organization, offer, deals = eight_deals_in_a_first_stage()

    def move(deal):
        return lambda: deal_move_stage(actor=None, deal=Deal(pk=deal.pk), stage_id=offer.pk)

    results = run_concurrently([move(deal) for deal in deals])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert stored_tallies() == plain_tallies()
    today = dt.datetime.now(dt.UTC).date()
    assert stored_tallies()[(organization.pk, offer.pk, today, "first")] == 8
