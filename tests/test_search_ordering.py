"""Searched lists: same rows and order whichever plan serves them (crmApp.pagination)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp import pagination
from crmApp.models import Customer
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
    monkeypatch.setattr(pagination, "SEARCH_SORT_LIMIT", limit)
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
def test_search_counts_once(owner, org):
    make_customers(org)
    with CaptureQueriesContext(connection) as plain:
        owner.client.get(URL, {"page_size": 3})
    with CaptureQueriesContext(connection) as searched:
        response = owner.client.get(URL, {"search": "davis", "page_size": 3})

    assert response.data["count"] == 4
    assert len(searched) == len(plain)
    counts = [q["sql"] for q in searched.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1


@pytest.mark.django_db
def test_search_ordering_rewrites_only_id_terms(org):
    queryset = Customer.objects.filter(organization=org).order_by("name", "-id")

    ordered, count = pagination.search_ordering(queryset)

    assert count == 0
    terms = ordered.query.order_by
    assert terms[0] == "name"
    assert terms[1].descending is True
    assert "+ 0" in str(ordered.query)
