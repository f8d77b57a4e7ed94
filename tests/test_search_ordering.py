"""Searched lists: same rows and order whichever plan serves them (crmApp.pagination)."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import Customer
from crmApp.selectors import counting
from tests.factories import CustomerFactory

URL = "/api/customers/"


def make_customers(org) -> list[int]:
    ids = []
    for number in range(7):
        name = f"Davis {number}" if number % 2 == 0 else f"Other {number}"
        ids.append(CustomerFactory(organization=org, name=name).pk)
    return [pk for index, pk in enumerate(ids) if index % 2 == 0]


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [0, 5_000])  # broad search keeps id; small one sorts id + 0
def test_search_pages_keep_id_order_and_exact_count(owner, org, monkeypatch, limit):
    monkeypatch.setattr(counting, "SEARCH_SORT_LIMIT", limit)
    matching = make_customers(org)

    first = owner.client.get(URL, {"search": "davis", "page_size": 3})
    second = owner.client.get(URL, {"search": "davis", "page_size": 3, "page": 2})
    backwards = owner.client.get(URL, {"search": "davis", "ordering": "-id"})

    assert first.status_code == second.status_code == backwards.status_code == 200
    assert first.data["count"] == second.data["count"] == 4
    assert [row["id"] for row in first.data["results"]] == matching[:3]
    assert [row["id"] for row in second.data["results"]] == matching[3:]
    assert [row["id"] for row in backwards.data["results"]] == matching[::-1]


@pytest.mark.django_db
def test_a_narrow_search_reads_its_page_and_count_in_one_statement(owner, org, other_org):
    """The matching ids stay in the statement (a WITH clause); the page's rows are read by id
    in the list's scope, so the search runs once; another organization's matches never
    count."""
    matching = make_customers(org)
    make_customers(other_org)
    with CaptureQueriesContext(connection) as plain:
        owner.client.get(URL, {"page_size": 3})
    plain_count = len(plain.captured_queries)  # authentication, the page, its count
    with CaptureQueriesContext(connection) as searched:
        response = owner.client.get(URL, {"search": "davis", "page_size": 3, "page": 2})
    queries = [query["sql"] for query in searched.captured_queries]

    assert response.data["count"] == 4
    assert [row["id"] for row in response.data["results"]] == matching[3:]
    assert len(queries) == plain_count - 1
    searches = [sql for sql in queries if "LIKE" in sql.upper()]
    assert len(searches) == 1
    assert searches[0].startswith(f"WITH {counting.SEARCHED_IDS} (id) AS (")
    page_part = searches[0].split(") SELECT ", 1)[1]
    assert "LIKE" not in page_part.upper()


@pytest.mark.django_db
def test_searches_the_one_statement_cannot_answer_take_the_ids_path(owner, org):
    """No match (no row carries the count) and `page=last` (the page is not known before the
    count) read the ids first, as before."""
    matching = make_customers(org)

    nothing = owner.client.get(URL, {"search": "nobody"})
    last = owner.client.get(URL, {"search": "davis", "page_size": 3, "page": "last"})

    assert nothing.status_code == 200 and nothing.data["count"] == 0
    assert nothing.data["results"] == []
    assert last.status_code == 200 and last.data["count"] == 4
    assert [row["id"] for row in last.data["results"]] == matching[3:]


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [0, 5_000])
def test_search_past_the_last_page_is_404_and_other_orderings_count_first(
    owner, org, monkeypatch, limit
):
    monkeypatch.setattr(counting, "SEARCH_SORT_LIMIT", limit)
    matching = make_customers(org)

    past = owner.client.get(URL, {"search": "davis", "page_size": 3, "page": 3})
    by_name = owner.client.get(URL, {"search": "davis", "ordering": "-name", "page_size": 3})

    assert past.status_code == 404
    assert by_name.data["count"] == 4
    assert [row["id"] for row in by_name.data["results"]] == matching[::-1][:3]


@pytest.mark.django_db
def test_matching_ids_leave_broad_and_recently_counted_searches_to_the_count(org, monkeypatch):
    make_customers(org)
    queryset = Customer.objects.filter(organization=org, name__icontains="davis").order_by("id")

    assert len(counting.matching_ids(queryset)) == 4
    assert counting.matching_ids(queryset.order_by("name", "id")) is None
    cache.set(counting.count_cache_key(queryset), 40_000)
    assert counting.matching_ids(queryset) is None
    cache.clear()
    monkeypatch.setattr(counting, "SEARCH_SORT_LIMIT", 3)
    assert counting.matching_ids(queryset) is None


@pytest.mark.django_db
def test_search_ordering_rewrites_only_id_terms(org):
    queryset = Customer.objects.filter(organization=org).order_by("name", "-id")

    ordered, count = counting.search_ordering(queryset)

    assert count == 0
    terms = ordered.query.order_by
    assert terms[0] == "name"
    assert terms[1].descending is True
    assert "+ 0" in str(ordered.query)
