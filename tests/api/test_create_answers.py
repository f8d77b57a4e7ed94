"""A create answers with the detail as stored, whether or not it needed a second read.

The base viewset serves the created instance as it is when it already holds every relation the
detail reads (crmApp.viewsets.base.OrganizationScopedMixin.detail_data), and re-reads it with
the detail's joins otherwise. Either way the answer must be exactly what a GET returns next.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    CustomerFactory,
    EmployeeFactory,
    PipelineFactory,
    PipelineStageFactory,
)

pytestmark = pytest.mark.django_db


def post_and_get(member, url: str, body: dict, table: str) -> tuple[dict, dict, int]:
    """The create's answer, the GET that follows, and how many times the create read `table`."""
    with CaptureQueriesContext(connection) as ctx:
        response = member.client.post(url, body, format="json")
    reads = sum(
        query["sql"].startswith("SELECT") and f'FROM "{table}"' in query["sql"]
        for query in ctx.captured_queries
    )
    assert response.status_code == 201, response.data
    created = response.json()
    return created, member.client.get(f"{url}{created['id']}/").json(), reads


@pytest.fixture
def rep(org):
    """An employee with a manager: the detail shows the manager's name, which a create's
    validated employee does not carry, so such a create is re-read."""
    return EmployeeFactory(organization=org, manager=EmployeeFactory(organization=org))


@pytest.mark.parametrize("with_rep", [False, True])
def test_lead_create_answers_what_a_get_returns(owner, org, rep, with_rep):
    body = {"organization": org.pk, "name": "Ada", "email": "ada@example.com"}
    if with_rep:
        body["assigned_to_id"] = rep.pk

    created, fetched, reads = post_and_get(owner, "/api/leads/", body, "leads")

    assert created == fetched
    assert reads == (1 if with_rep else 0)


@pytest.mark.parametrize("with_rep", [False, True])
def test_customer_create_answers_what_a_get_returns(owner, org, rep, with_rep):
    body = {"organization": org.pk, "name": "Initech", "email": "it@example.com", "tags": ["a"]}
    if with_rep:
        body["assigned_to_id"] = rep.pk

    created, fetched, reads = post_and_get(owner, "/api/customers/", body, "customers")

    assert created == fetched
    assert created["assigned_to"] == (fetched["assigned_to"] if with_rep else None)
    assert reads == (1 if with_rep else 0)


def test_deal_create_answers_what_a_get_returns(owner, org, rep):
    pipeline = PipelineFactory(organization=org)
    stage = PipelineStageFactory(pipeline=pipeline, order=0, probability=30)
    PipelineStageFactory(pipeline=pipeline, order=1, probability=70)
    body = {
        "organization": org.pk,
        "title": "Big one",
        "customer_id": CustomerFactory(organization=org, assigned_to=rep).pk,
        "pipeline_id": pipeline.pk,
        "stage_id": stage.pk,
        "assigned_to_id": rep.pk,
        "value": "1000.5",
    }

    created, fetched, reads = post_and_get(owner, "/api/deals/", body, "deals")

    assert created == fetched
    assert [s["order"] for s in created["pipeline"]["stages"]] == [0, 1]
    assert created["expected_revenue"] == "300.15"
    assert reads == 1  # the pipeline's stages are not on a created deal: re-read


@pytest.mark.parametrize("named", [True, False])
def test_a_create_does_not_read_its_organization_row(owner, org, named):
    """The caller's access (read with the session) proves the organization is theirs; the row
    itself is not read to set the foreign key, whether the body names it or not."""
    body = {"name": "Ada", "email": "ada@example.com"}
    if named:
        body["organization"] = org.pk

    with CaptureQueriesContext(connection) as ctx:
        response = owner.client.post("/api/leads/", body, format="json")

    assert response.status_code == 201, response.data
    assert response.json()["organization"] == org.pk
    assert not any('FROM "organizations"' in query["sql"] for query in ctx.captured_queries)


@pytest.mark.parametrize("value", [10**6, "abc", "1.5", True])
def test_an_organization_that_is_not_the_callers_is_refused(owner, value):
    response = owner.client.post(
        "/api/leads/",
        {"organization": value, "name": "Ada", "email": "a@example.com"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["organization"]
