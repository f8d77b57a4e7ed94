"""Creates may omit `organization` when the header or the caller's only membership decides it."""

import pytest

from crmApp.models import Deal
from tests.conftest import make_member
from tests.world import build_world

pytestmark = pytest.mark.django_db


def _deal_body(world):
    return {
        "title": "No organization given",
        "customer_id": world.customer.pk,
        "pipeline_id": world.pipeline.pk,
        "stage_id": world.stage.pk,
    }


def test_only_membership_is_used_when_organization_is_omitted(org):
    world = build_world(org, marker="solo")
    response = world.owner.client.post("/api/deals/", _deal_body(world), format="json")
    assert response.status_code == 201, response.data
    assert response.data["organization"] == org.pk
    assert Deal.objects.get(pk=response.data["id"]).organization_id == org.pk


def test_header_decides_for_a_member_of_several_organizations(org, other_org):
    world = build_world(org, marker="multi")
    owner = world.owner
    make_member(other_org, role="admin").user  # noqa: B018 - another populated tenant
    from crmApp.models import UserOrganization

    UserOrganization.objects.create(user=owner.user, organization=other_org, is_owner=True)
    ambiguous = owner.client.post("/api/deals/", _deal_body(world), format="json")
    assert ambiguous.status_code == 400
    assert "organization" in ambiguous.data["details"]
    chosen = owner.client.post(
        "/api/deals/", _deal_body(world), format="json", HTTP_X_ORGANIZATION_ID=str(org.pk)
    )
    assert chosen.status_code == 201, chosen.data
    assert chosen.data["organization"] == org.pk


def test_header_naming_a_foreign_organization_is_refused(org, other_org):
    world = build_world(org, marker="foreignhdr")
    response = world.owner.client.post(
        "/api/deals/", _deal_body(world), format="json", HTTP_X_ORGANIZATION_ID=str(other_org.pk)
    )
    assert response.status_code in (400, 403)
    assert not Deal.objects.filter(title="No organization given").exists()
