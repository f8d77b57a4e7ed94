"""Timelines of customers, leads and deals: merged sources, keyset pages, fixed queries."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmApp.models import Activity, AuditEvent, DealStageHistory
from tests.factories import CustomerFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db


def _activity(org, at, **parent) -> Activity:
    activity = Activity.objects.create(organization=org, subject=f"At {at:%H:%M:%S}", **parent)
    Activity.objects.filter(pk=activity.pk).update(created_at=at)
    return activity


def _audit(org, at, resource, record_id, action="updated") -> AuditEvent:
    return AuditEvent.objects.create(
        organization=org, resource=resource, record_id=record_id, action=action, created_at=at
    )


def _walk(client, url, page_size) -> list[tuple[str, int]]:
    seen, link = [], f"{url}?page_size={page_size}"
    while link:
        response = client.get(link)
        assert response.status_code == 200, response.data
        assert len(response.data["results"]) <= page_size
        seen += [(e["kind"], e["id"]) for e in response.data["results"]]
        link = response.data["next"]
    return seen


def test_a_customer_timeline_merges_activities_and_audit_rows_newest_first(owner, org):
    customer = CustomerFactory(organization=org)
    start = timezone.now() - dt.timedelta(hours=1)
    first = _activity(org, start, customer=customer)
    audit = _audit(org, start + dt.timedelta(minutes=1), "customer", customer.pk)
    last = _activity(org, start + dt.timedelta(minutes=2), customer=customer)
    _audit(org, start, "customer", customer.pk + 1000)  # another record
    _audit(org, start, "lead", customer.pk)  # another resource with the same id

    response = owner.client.get(f"/api/customers/{customer.pk}/timeline/")

    assert response.status_code == 200
    assert [(e["kind"], e["id"]) for e in response.data["results"]] == [
        ("activity", last.pk),
        ("audit", audit.pk),
        ("activity", first.pk),
    ]
    assert response.data["next"] is None
    entry = response.data["results"][0]
    assert set(entry) == {"kind", "id", "at", "actor", "data"}
    assert entry["data"]["subject"] == last.subject


def test_audit_entries_are_shown_only_to_holders_of_audit_view(viewer, admin, org):
    customer = CustomerFactory(organization=org)
    now = timezone.now()
    activity = _activity(org, now, customer=customer)
    audit = _audit(org, now, "customer", customer.pk)

    as_viewer = viewer.client.get(f"/api/customers/{customer.pk}/timeline/")
    as_admin = admin.client.get(f"/api/customers/{customer.pk}/timeline/")

    assert [(e["kind"], e["id"]) for e in as_viewer.data["results"]] == [("activity", activity.pk)]
    assert [(e["kind"], e["id"]) for e in as_admin.data["results"]] == [
        ("audit", audit.pk),
        ("activity", activity.pk),
    ]


def test_pages_walk_every_entry_once_even_when_times_tie(owner, org):
    deal = DealFactory(organization=org)
    now = timezone.now().replace(microsecond=0)
    expected = []
    for minute in range(4):
        at = now - dt.timedelta(minutes=minute)
        # three entries of each kind at the very same instant
        for _ in range(3):
            expected.append(("activity", _activity(org, at, deal=deal).pk, at))
            expected.append(("audit", _audit(org, at, "deal", deal.pk).pk, at))
            row = DealStageHistory.objects.create(
                organization=org, deal=deal, entered_at=at, left_at=at
            )
            expected.append(("stage_change", row.pk, at))
    expected.sort(key=lambda e: (e[2], e[0], e[1]), reverse=True)
    order = [(kind, pk) for kind, pk, _at in expected]

    for size in (1, 2, 5, 7, 100):
        assert _walk(owner.client, f"/api/deals/{deal.pk}/timeline/", size) == order


@pytest.mark.parametrize("kind", ["customer", "lead", "deal"])
def test_a_page_costs_the_same_queries_whatever_its_size(owner, org, kind):
    factories = {"customer": CustomerFactory, "lead": LeadFactory, "deal": DealFactory}
    record = factories[kind](organization=org)
    now = timezone.now()
    for minute in range(30):
        at = now - dt.timedelta(minutes=minute)
        _activity(org, at, **{kind: record})
        _audit(org, at, kind, record.pk)
        if kind == "deal":
            DealStageHistory.objects.create(
                organization=org, deal=record, entered_at=at, left_at=at
            )
    url = f"/api/{kind}s/{record.pk}/timeline/"

    counts = []
    for size in (1, 10, 100):
        with CaptureQueriesContext(connection) as ctx:
            response = owner.client.get(url, {"page_size": size})
        assert response.status_code == 200
        assert len(response.data["results"]) == min(size, 90 if kind == "deal" else 60)
        counts.append(len(ctx.captured_queries))

    # session with access, the record, then one query per source (three for a deal)
    assert counts == [5 if kind == "deal" else 4] * 3


def test_another_organizations_record_is_not_found(owner, other_org):
    theirs = CustomerFactory(organization=other_org)

    response = owner.client.get(f"/api/customers/{theirs.pk}/timeline/")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage"},
        {"cursor": "WyJ4IiwgImF1ZGl0IiwgMV0"},  # ["x", "audit", 1]
        {"unknown": "1"},
    ],
)
def test_bad_parameters_are_a_400(owner, org, params):
    customer = CustomerFactory(organization=org)

    response = owner.client.get(f"/api/customers/{customer.pk}/timeline/", params)

    assert response.status_code == 400


def test_a_deal_timeline_shows_the_stage_changes_of_its_moves(owner, org):
    from tests.factories import PipelineFactory, PipelineStageFactory

    pipeline = PipelineFactory(organization=org)
    first = PipelineStageFactory(pipeline=pipeline, order=0, name="First")
    second = PipelineStageFactory(pipeline=pipeline, order=1, name="Second")
    customer = CustomerFactory(organization=org)
    created = owner.client.post(
        "/api/deals/",
        {
            "title": "Big",
            "customer_id": customer.pk,
            "pipeline_id": pipeline.pk,
            "stage_id": first.pk,
        },
        format="json",
    )
    deal_id = created.data["id"]
    owner.client.post(f"/api/deals/{deal_id}/move_stage/", {"stage_id": second.pk})

    response = owner.client.get(f"/api/deals/{deal_id}/timeline/")

    stages = [
        e["data"]["stage_name"] for e in response.data["results"] if e["kind"] == "stage_change"
    ]
    actions = [e["data"]["action"] for e in response.data["results"] if e["kind"] == "audit"]
    assert stages == ["Second", "First"]
    assert actions == ["stage_changed", "created"]
    assert response.data["results"][0]["actor"]["id"] == owner.user.pk
