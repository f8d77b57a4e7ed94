"""List counts: exact under the cap, cached above it; constant query count; the bench view."""

import json

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from crmApp.models import Customer
from crmApp.permissions import resolve_access
from crmBench.views import bare_customers
from tests.conftest import make_member
from tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    OrganizationFactory,
)

URL = "/api/customers/"


def add_customers(organization, count: int) -> None:
    for number in range(count):
        Customer.objects.create(
            organization=organization, name=f"Customer {number}", email=f"c{number}@example.com"
        )


def list_queries(member, path: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = member.client.get(path)
    assert response.status_code == 200
    return len(queries), response.json()


def test_list_count_is_exact_and_fresh_under_the_cap(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 10
    add_customers(owner.organization, 4)
    first = owner.client.get(URL).json()

    add_customers(owner.organization, 2)
    second = owner.client.get(URL).json()

    assert (first["count"], second["count"]) == (4, 6)


def test_list_count_above_the_cap_is_exact_then_cached(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 3
    add_customers(owner.organization, 5)
    first = owner.client.get(URL).json()

    add_customers(owner.organization, 1)
    second = owner.client.get(URL).json()

    assert (first["count"], second["count"]) == (5, 5)
    assert len(second["results"]) == 6


def test_cached_count_is_keyed_by_the_filters(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 2
    add_customers(owner.organization, 4)
    Customer.objects.filter(name__in=["Customer 0", "Customer 1", "Customer 2"]).update(
        status="inactive"
    )

    everyone = owner.client.get(URL).json()
    inactive = owner.client.get(URL + "?status=inactive").json()
    active = owner.client.get(URL + "?status=active").json()

    assert (everyone["count"], inactive["count"], active["count"]) == (4, 3, 1)


def test_cached_count_is_not_shared_between_organizations(owner, other_owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 2
    add_customers(owner.organization, 5)
    add_customers(other_owner.organization, 3)

    mine = owner.client.get(URL).json()
    theirs = other_owner.client.get(URL).json()

    assert (mine["count"], theirs["count"]) == (5, 3)


def test_exact_count_limit_zero_counts_every_page(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 0
    add_customers(owner.organization, 5)
    owner.client.get(URL)

    add_customers(owner.organization, 1)

    assert owner.client.get(URL).json()["count"] == 6


def test_list_keeps_the_contract_shape_and_links(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 2
    add_customers(owner.organization, 5)

    body = owner.client.get(URL + "?page=2&page_size=2").json()

    assert list(body) == ["count", "next", "previous", "results"]
    assert body["count"] == 5
    assert body["next"] == "http://testserver/api/customers/?page=3&page_size=2"
    assert body["previous"] == "http://testserver/api/customers/?page_size=2"
    assert [row["name"] for row in body["results"]] == ["Customer 2", "Customer 3"]


def test_page_beyond_a_cached_count_is_invalid(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 2
    add_customers(owner.organization, 4)

    response = owner.client.get(URL + "?page=3&page_size=2")

    assert response.status_code == 404
    assert response.json()["error"] == "Invalid page."


def test_list_narrowed_to_a_foreign_organization_counts_zero(owner, other_org, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 2
    add_customers(owner.organization, 3)

    body = owner.client.get(f"{URL}?organization={other_org.pk}").json()

    assert (body["count"], body["results"]) == (0, [])


def test_list_query_count_is_at_most_four_whatever_the_page_size(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 10_000
    employee = EmployeeFactory(organization=owner.organization)
    add_customers(owner.organization, 120)
    Customer.objects.update(assigned_to=employee)

    small, small_body = list_queries(owner, URL + "?page_size=10")
    large, large_body = list_queries(owner, URL + "?page_size=100")

    assert (len(small_body["results"]), len(large_body["results"])) == (10, 100)
    assert small == large == 3  # session+user+access, capped count, page


def test_list_with_a_cached_count_skips_the_count_query(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 5
    add_customers(owner.organization, 8)

    cold, _ = list_queries(owner, URL)
    warm, body = list_queries(owner, URL)

    assert body["count"] == 8
    assert cold == 4  # session+user+access, capped count, full count, page
    assert warm == 2  # session+user+access, page


def test_access_is_resolved_in_one_query(org, other_org):
    member = make_member(org, role="sales")
    other = OrganizationFactory(name="Initech")
    make_member(other, owner=True)
    inactive = make_member(other_org, role="admin")
    inactive_membership = inactive.user.user_organizations.get()
    inactive_membership.is_active = False
    inactive_membership.save()
    member.user.user_organizations.create(organization=other, is_owner=True)

    with CaptureQueriesContext(connection) as queries:
        access = resolve_access(member.user)

    assert len(queries) == 1
    assert access.member_org_ids == frozenset({org.pk, other.pk})
    assert access.owner_org_ids == frozenset({other.pk})
    assert access.active_org_ids == frozenset({org.pk, other.pk})
    assert access.has(org.pk, (("customers", "create"),))
    assert not access.has(org.pk, (("customers", "delete"),))
    assert access.has(other.pk, (("customers", "delete"),))
    assert set(access.grants) == {org.pk}


def test_access_ignores_inactive_memberships_and_their_roles(org):
    member = make_member(org, role="admin")
    membership = member.user.user_organizations.get()
    membership.is_active = False
    membership.save()

    access = resolve_access(member.user)

    assert (access.member_org_ids, access.grants) == (frozenset(), {})


def test_bench_view_is_not_mounted_by_default(api_client, org):
    assert api_client.get("/api/bench/customers/?organization=1").status_code == 404


@pytest.mark.django_db
def test_bench_view_returns_the_api_page(owner):
    employee = EmployeeFactory(organization=owner.organization, first_name="Ada", last_name="L")
    add_customers(owner.organization, 3)
    Customer.objects.filter(name="Customer 1").update(assigned_to=employee)
    CustomerFactory(organization=OrganizationFactory())
    api = owner.client.get(URL + "?page_size=50").json()

    request = RequestFactory().get(
        "/api/bench/customers/", {"organization": owner.organization.pk, "page_size": 50}
    )
    bare = json.loads(bare_customers(request).content)

    assert bare["count"] == api["count"] == 3
    assert bare["results"] == api["results"]
    assert bare["results"][1]["assigned_to_name"] == "Ada L"


def test_stats_of_a_small_tenant_are_fresh(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 10
    LeadFactory(organization=owner.organization)
    first = owner.client.get("/api/leads/stats/").json()

    LeadFactory(organization=owner.organization)
    second = owner.client.get("/api/leads/stats/").json()

    assert (first["total"], second["total"]) == (1, 2)


def test_stats_of_a_huge_tenant_are_reused_for_a_while(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 2
    for _ in range(3):
        LeadFactory(organization=owner.organization)
    first = owner.client.get("/api/leads/stats/").json()

    LeadFactory(organization=owner.organization)
    with CaptureQueriesContext(connection) as queries:
        second = owner.client.get("/api/leads/stats/").json()

    assert (first["total"], second["total"]) == (3, 3)
    assert len(queries) == 1  # session+user+access; the figures come from the cache


def test_deal_stats_of_a_huge_tenant_are_reused_for_a_while(owner, settings):
    settings.PAGINATION_EXACT_COUNT_LIMIT = 1
    DealFactory(organization=owner.organization, value=100)
    DealFactory(organization=owner.organization, value=50)
    first = owner.client.get("/api/deals/stats/").json()

    DealFactory(organization=owner.organization, value=10)
    second = owner.client.get("/api/deals/stats/").json()

    assert (first["total_deals"], first["total_value"]) == (2, 150.0)
    assert second == first
