"""`user-organizations/`: memberships, with the owner protections that close S6."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import UserOrganization, UserRole
from crmApp.serializers.organizations import OWNERSHIP_ON_ADD
from tests.conftest import make_colleague, make_member, membership
from tests.factories import MembershipFactory, UserFactory

URL = "/api/user-organizations/"
MEMBERSHIP_KEYS = [
    "id",
    "user",
    "organization",
    "is_active",
    "is_owner",
    "joined_at",
    "user_id",
    "organization_id",
]
OWNER_MEMBERSHIP = "Only organization owners can change an owner's membership."


def detail(item, action: str = "") -> str:
    return f"{URL}{item.pk}/{action + '/' if action else ''}"


def flags(user, organization) -> tuple[bool, bool]:
    row = membership(user, organization)
    return row.is_active, row.is_owner


# --- list and retrieve ----------------------------------------------------------------------


def test_list_shows_every_membership_of_the_callers_organizations(owner, viewer, other_owner):
    former = make_member(owner.organization)
    gone = membership(former.user, owner.organization)
    gone.is_active = False
    gone.save()

    response = viewer.client.get(URL)

    assert response.status_code == 200
    ids = [m["id"] for m in response.data["results"]]
    assert ids == sorted(
        UserOrganization.objects.filter(organization=owner.organization).values_list(
            "id", flat=True
        )
    )
    assert len(ids) == 3
    first = response.data["results"][0]
    assert list(first) == MEMBERSHIP_KEYS
    assert first["user"]["id"] == owner.user.pk
    assert first["organization"]["member_count"] == 2
    assert first["organization"]["zip_code"] is None


def test_list_filters_by_flags_and_user(owner, viewer):
    owners = owner.client.get(URL, {"is_owner": "true"})
    by_user = owner.client.get(URL, {"user": viewer.user.pk})
    bad_flag = owner.client.get(URL, {"is_active": "maybe"})
    bad_user = owner.client.get(URL, {"user": "abc"})
    unknown = owner.client.get(URL, {"role": "admin"})

    assert [m["user_id"] for m in owners.data["results"]] == [owner.user.pk]
    assert [m["user_id"] for m in by_user.data["results"]] == [viewer.user.pk]
    assert (bad_flag.status_code, bad_user.status_code, unknown.status_code) == (400, 400, 400)


def test_list_is_forbidden_without_organizations_view(no_role):
    response = no_role.client.get(URL)

    assert response.status_code == 403


def test_retrieve_another_organizations_membership_is_not_found(owner, other_owner):
    foreign = membership(other_owner.user, other_owner.organization)

    response = owner.client.get(detail(foreign))

    assert response.status_code == 404
    assert response.data["details"] == "No UserOrganization matches the given query."


def test_retrieve_a_membership(viewer, owner):
    own = membership(owner.user, owner.organization)

    response = viewer.client.get(detail(own))

    assert response.status_code == 200
    assert response.data["id"] == own.pk
    assert response.data["is_owner"] is True


# --- create ---------------------------------------------------------------------------------


def test_admin_creates_a_membership(admin):
    newcomer = make_colleague(admin)

    response = admin.client.post(
        URL, {"user_id": newcomer.pk, "organization_id": admin.organization.pk}, format="json"
    )

    assert response.status_code == 201, response.data
    assert list(response.data) == MEMBERSHIP_KEYS
    assert response.data["user_id"] == newcomer.pk
    assert response.data["organization"]["member_count"] == 2
    assert flags(newcomer, admin.organization) == (True, False)


def test_joining_a_foreign_organization_is_refused(other_owner, owner):
    attacker = other_owner

    response = attacker.client.post(
        URL,
        {"user_id": attacker.user.pk, "organization_id": owner.organization.pk, "is_owner": True},
        format="json",
    )

    assert response.status_code == 400
    assert "organization_id" in response.data["details"]
    assert not UserOrganization.objects.filter(
        user=attacker.user, organization=owner.organization
    ).exists()


def test_a_member_cannot_add_themselves_to_another_organization(admin, other_org):
    response = admin.client.post(
        URL, {"user_id": admin.user.pk, "organization_id": other_org.pk}, format="json"
    )

    assert response.status_code == 400
    assert not UserOrganization.objects.filter(user=admin.user, organization=other_org).exists()


@pytest.mark.parametrize("role", ["manager", "sales", "viewer", "no_role"])
def test_create_is_forbidden_without_organizations_manage(request, role):
    member = request.getfixturevalue(role)
    newcomer = UserFactory()

    response = member.client.post(
        URL, {"user_id": newcomer.pk, "organization_id": member.organization.pk}, format="json"
    )

    assert response.status_code == 403
    assert not UserOrganization.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": 1}, "organization_id"),
        ({"user_id": 1, "organization_id": "x"}, "organization_id"),
        ({"organization_id": None}, "organization_id"),
    ],
)
def test_create_rejects_bad_bodies(admin, body, field):
    before = UserOrganization.objects.count()

    response = admin.client.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.data["details"]
    assert UserOrganization.objects.count() == before


def test_create_rejects_missing_and_existing_users(admin, viewer):
    missing = admin.client.post(URL, {"organization_id": admin.organization.pk}, format="json")
    existing = admin.client.post(
        URL, {"user_id": viewer.user.pk, "organization_id": admin.organization.pk}, format="json"
    )

    assert missing.status_code == 400
    assert missing.data["details"] == {"user_id": ["This field is required."]}
    assert existing.status_code == 400
    assert "user_id" in existing.data["details"]
    assert UserOrganization.objects.filter(user=viewer.user).count() == 1


def test_a_membership_cannot_be_created_as_an_owner(admin):
    newcomer = make_colleague(admin)

    response = admin.client.post(
        URL,
        {"user_id": newcomer.pk, "organization_id": admin.organization.pk, "is_owner": True},
        format="json",
    )

    assert response.status_code == 400
    assert response.data["details"] == {"is_owner": [OWNERSHIP_ON_ADD]}
    assert not UserOrganization.objects.filter(
        user=newcomer, organization=admin.organization
    ).exists()


# --- update ---------------------------------------------------------------------------------


def test_admin_deactivates_and_reactivates_a_member(admin, sales):
    row = membership(sales.user, admin.organization)

    off = admin.client.patch(detail(row), {"is_active": False}, format="json")
    on = admin.client.patch(detail(row), {"is_active": True}, format="json")

    assert off.status_code == 200
    assert off.data["is_active"] is False
    assert on.status_code == 200
    assert on.data["is_active"] is True
    assert flags(sales.user, admin.organization) == (True, False)
    assert UserRole.objects.filter(user=sales.user).count() == 1


def test_nobody_promotes_themselves_to_owner(admin):
    own = membership(admin.user, admin.organization)

    response = admin.client.patch(detail(own), {"is_owner": True}, format="json")

    assert response.status_code == 403
    assert flags(admin.user, admin.organization) == (True, False)


def test_only_an_owner_promotes_a_member_to_owner(owner, admin, sales):
    target = membership(sales.user, owner.organization)

    denied = admin.client.patch(detail(target), {"is_owner": True}, format="json")
    assert denied.status_code == 403
    assert flags(sales.user, owner.organization) == (True, False)

    allowed = owner.client.patch(detail(target), {"is_owner": True}, format="json")
    assert allowed.status_code == 200
    assert allowed.data["is_owner"] is True
    assert flags(sales.user, owner.organization) == (True, True)


def test_a_non_owner_cannot_deactivate_or_demote_an_owner(owner, admin):
    target = membership(owner.user, owner.organization)

    deactivate = admin.client.patch(detail(target), {"is_active": False}, format="json")
    demote = admin.client.put(detail(target), {"is_active": True, "is_owner": False}, format="json")
    action = admin.client.post(detail(target, "deactivate"))
    delete = admin.client.delete(detail(target))

    for response in (deactivate, demote, action, delete):
        assert response.status_code == 403
        assert response.data["error"] == OWNER_MEMBERSHIP
    assert flags(owner.user, owner.organization) == (True, True)


def test_the_last_owner_cannot_deactivate_demote_or_delete_themselves(owner):
    own = membership(owner.user, owner.organization)

    deactivate = owner.client.patch(detail(own), {"is_active": False}, format="json")
    demote = owner.client.patch(detail(own), {"is_owner": False}, format="json")
    action = owner.client.post(detail(own, "deactivate"))
    delete = owner.client.delete(detail(own))

    for response in (deactivate, demote, action, delete):
        assert response.status_code == 400
        assert "non_field_errors" in response.data["details"]
    assert flags(owner.user, owner.organization) == (True, True)


def test_an_owner_steps_down_when_another_owner_remains(owner):
    co_owner = make_member(owner.organization, owner=True)
    own = membership(owner.user, owner.organization)

    response = owner.client.patch(detail(own), {"is_owner": False}, format="json")

    assert response.status_code == 200
    assert response.data["is_owner"] is False
    assert flags(owner.user, owner.organization) == (True, False)
    assert flags(co_owner.user, owner.organization) == (True, True)


def test_user_and_organization_of_a_membership_cannot_change(owner, viewer, other_org):
    target = membership(viewer.user, owner.organization)

    response = owner.client.patch(
        detail(target),
        {"user_id": owner.user.pk, "organization_id": other_org.pk, "is_active": False},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.data["details"]) == {"user_id", "organization_id"}
    target.refresh_from_db()
    assert (target.user_id, target.organization_id, target.is_active) == (
        viewer.user.pk,
        owner.organization.pk,
        True,
    )


@pytest.mark.parametrize("role", ["manager", "viewer"])
def test_update_is_forbidden_without_organizations_manage(request, role, sales):
    member = request.getfixturevalue(role)
    target = membership(sales.user, sales.organization)

    response = member.client.patch(detail(target), {"is_active": False}, format="json")

    assert response.status_code == 403
    assert flags(sales.user, sales.organization) == (True, False)


def test_update_another_organizations_membership_is_not_found(admin, other_owner):
    foreign = membership(other_owner.user, other_owner.organization)

    response = admin.client.patch(detail(foreign), {"is_active": False}, format="json")

    assert response.status_code == 404
    assert flags(other_owner.user, other_owner.organization) == (True, True)


# --- deactivate and delete ------------------------------------------------------------------


def test_deactivate_action(admin, viewer):
    target = membership(viewer.user, admin.organization)

    response = admin.client.post(detail(target, "deactivate"))

    assert response.status_code == 200
    assert response.data == {"message": "Membership deactivated successfully."}
    assert flags(viewer.user, admin.organization) == (False, False)
    assert viewer.client.get("/api/organizations/").status_code == 403


def test_deactivate_another_organizations_membership_is_not_found(admin, other_owner):
    foreign = membership(other_owner.user, other_owner.organization)

    response = admin.client.post(detail(foreign, "deactivate"))

    assert response.status_code == 404
    assert flags(other_owner.user, other_owner.organization) == (True, True)


def test_delete_removes_the_membership_and_the_members_roles(admin, sales):
    target = membership(sales.user, admin.organization)

    response = admin.client.delete(detail(target))

    assert response.status_code == 204
    assert not UserOrganization.objects.filter(pk=target.pk).exists()
    assert not UserRole.objects.filter(user=sales.user).exists()


def test_an_owner_deletes_a_co_owners_membership(owner):
    co_owner = make_member(owner.organization, owner=True)
    target = membership(co_owner.user, owner.organization)

    response = owner.client.delete(detail(target))

    assert response.status_code == 204
    assert not UserOrganization.objects.filter(pk=target.pk).exists()


def test_delete_is_forbidden_without_organizations_manage(viewer, sales):
    target = membership(sales.user, sales.organization)

    response = viewer.client.delete(detail(target))

    assert response.status_code == 403
    assert UserOrganization.objects.filter(pk=target.pk).exists()


# --- query count ----------------------------------------------------------------------------


def test_membership_list_query_count_is_constant(owner):
    def measure():
        with CaptureQueriesContext(connection) as context:
            response = owner.client.get(URL, {"page_size": 100})
        assert response.status_code == 200
        return len(context.captured_queries), response

    few, response = measure()
    assert response.data["count"] == 1
    for _ in range(49):
        MembershipFactory(organization=owner.organization)

    many, response = measure()

    assert response.data["count"] == 50
    assert response.data["results"][0]["organization"]["member_count"] == 50
    assert many == few
