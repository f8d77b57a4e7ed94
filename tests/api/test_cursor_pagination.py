"""`?cursor=` keyset pages: the same rows as page numbers, constant queries, signed cursors."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.services.events import event_record_for
from tests.factories import (
    CustomerFactory,
    DealFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
)

pytestmark = pytest.mark.django_db


def walk(member, url: str) -> tuple[list[int], list[int]]:
    """The ids of every page from `url` on, following `next`; and each page's query count."""
    ids, queries = [], []
    while url:
        with CaptureQueriesContext(connection) as ctx:
            response = member.client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        ids += [row["id"] for row in body["results"]]
        queries.append(len(ctx.captured_queries))
        url = body["next"]
    return ids, queries


@pytest.fixture
def lists(org, other_org):
    """Eleven customers, leads and deals with a few matching a search and a filter, plus
    another organization's rows in between (never listed)."""
    pipeline = PipelineFactory(organization=org)
    stages = [PipelineStageFactory(pipeline=pipeline, order=n) for n in range(2)]
    for number in range(11):
        name = f"Davis {number}" if number % 3 == 0 else f"Person {number}"
        CustomerFactory(organization=org, name=name)
        LeadFactory(organization=org, name=name, source="event" if number % 2 else "website")
        DealFactory(organization=org, pipeline=pipeline, stage=stages[number % 2], title=name)
        CustomerFactory(organization=other_org, name=name)
    return {"stage": stages[1]}


@pytest.mark.parametrize(
    "path",
    [
        "/api/customers/?",
        "/api/customers/?search=davis&",
        "/api/leads/?source=event&",
        "/api/leads/?search=DAVIS&source=website&",
        "/api/deals/?stage={stage}&",
        "/api/deals/?is_won=false&search=person&",
    ],
)
def test_cursor_walk_equals_the_page_number_walk(owner, lists, path):
    path = path.format(stage=lists["stage"].pk)

    by_number, _ = walk(owner, f"{path}page_size=1")
    by_cursor, queries = walk(owner, f"{path}page_size=1&cursor=")

    assert by_cursor == by_number
    assert by_number == sorted(by_number) and len(by_number) >= 2
    assert len(set(queries)) == 1  # the same number of queries on every page


def test_cursor_pages_cost_the_same_queries_at_any_depth(owner, org):
    for number in range(30):
        CustomerFactory(organization=org, name=f"C{number}")

    ids, queries = walk(owner, "/api/customers/?page_size=1&cursor=")

    assert len(ids) == 30
    # session, user and access in one, the page (no count)
    assert queries == [2] * 30


def test_cursor_pages_go_back_with_previous(owner, org):
    made = [CustomerFactory(organization=org).pk for _ in range(5)]
    first = owner.client.get("/api/customers/?page_size=2&cursor=").json()
    second = owner.client.get(first["next"]).json()
    third = owner.client.get(second["next"]).json()

    back = owner.client.get(third["previous"]).json()

    assert sorted(first) == ["next", "previous", "results"]
    assert first["previous"] is None and third["next"] is None
    assert [row["id"] for row in back["results"]] == made[2:4]
    assert [row["id"] for row in third["results"]] == made[4:]


def test_cursor_rows_equal_the_page_rows(owner, org):
    for number in range(3):
        CustomerFactory(organization=org, name=f"C{number}", tags=["a"])

    by_number = owner.client.get("/api/customers/").json()["results"]
    by_cursor = owner.client.get("/api/customers/?cursor=").json()["results"]

    assert by_cursor == by_number


def tampered(cursor: str) -> str:
    value, signature = cursor.rsplit(":", 1)
    return f"{value[:-1]}{'A' if value[-1] != 'A' else 'B'}:{signature}"


def test_bad_cursors_are_a_400_in_the_envelope(owner, org):
    for number in range(3):
        event_record_for(CustomerFactory(organization=org, name=f"C{number}"), "customer.updated")
    following = owner.client.get("/api/customers/?page_size=1&cursor=").json()["next"]
    cursor = parse_qs(urlsplit(following).query)["cursor"][0]
    events_cursor = owner.client.get("/api/events/?page_size=1").json()["next"]

    for bad in ("not-a-cursor", "cD0x", tampered(cursor), f"{cursor}x", cursor.split(":")[0]):
        response = owner.client.get("/api/customers/", {"cursor": bad})
        assert response.status_code == 400, bad
        assert response.json() == {
            "error": "An error occurred",
            "details": {"cursor": ["Invalid cursor."]},
            "status_code": 400,
        }
    # a cursor of another list (the events' order) is refused as well
    other = parse_qs(urlsplit(events_cursor).query)["cursor"][0]
    assert owner.client.get("/api/customers/", {"cursor": other}).status_code == 400
    assert owner.client.get("/api/events/", {"cursor": cursor}).status_code == 400


@pytest.mark.parametrize("extra", [{"page": "2"}, {"ordering": "name"}])
def test_cursor_does_not_combine_with_page_numbers_or_another_order(owner, extra):
    response = owner.client.get("/api/customers/", {"cursor": "", **extra})

    assert response.status_code == 400
    assert list(response.json()["details"]) == list(extra)


def test_lists_without_an_id_order_refuse_a_cursor(owner, org):
    response = owner.client.get("/api/pipeline-stages/", {"cursor": ""})

    assert response.status_code == 400
    assert response.json()["details"] == {"cursor": ["This list has no cursor pagination."]}


def test_page_numbers_stay_the_default(owner, org):
    CustomerFactory(organization=org)

    body = owner.client.get("/api/customers/").json()

    assert sorted(body) == ["count", "next", "previous", "results"]
    assert body["count"] == 1
