"""Organizations: create, read, update, delete, members, add/remove members and leaving."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import Invitation, Organization, Permission, Role, UserOrganization, UserRole
from crmApp.permissions import SYSTEM_PERMISSIONS, SYSTEM_ROLES
from crmApp.serializers.organizations import OWNERSHIP_ON_ADD
from tests.conftest import make_colleague, make_member, membership
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.world import database_snapshot

URL = "/api/organizations/"
ORGANIZATION_KEYS = [
    "id",
    "name",
    "slug",
    "description",
    "industry",
    "website",
    "phone",
    "email",
    "address",
    "city",
    "state",
    "zip_code",
    "country",
    "settings",
    "subscription_plan",
    "subscription_status",
    "is_active",
    "created_at",
    "updated_at",
    "member_count",
]
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
ADD_MEMBER_DENIED = "Only organization owners can add members."


def detail(organization, action: str = "") -> str:
    return f"{URL}{organization.pk}/{action + '/' if action else ''}"


def count_queries(client, url: str) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200, response.data
    return len(context.captured_queries), response


# --- create ---------------------------------------------------------------------------------


def test_create_organization_makes_the_caller_its_owner_with_roles_and_permissions(outsider):
    body = {
        "name": "Initech",
        "description": "Software",
        "industry": "IT",
        "website": "https://initech.example",
        "phone": "555-0100",
        "email": "hello@initech.example",
        "address": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "zip_code": "73301",
        "country": "US",
    }

    response = outsider.client.post(URL, body, format="json")

    assert response.status_code == 201, response.data
    assert list(response.data) == ORGANIZATION_KEYS
    assert response.data["slug"] == "initech"
    assert response.data["zip_code"] == "73301"
    assert response.data["member_count"] == 1
    assert response.data["settings"] == {}
    assert response.data["subscription_plan"] == "free"
    assert response.data["is_active"] is True
    for key, value in body.items():
        assert response.data[key] == value
    organization = Organization.objects.get(pk=response.data["id"])
    assert organization.postal_code == "73301"
    owner = membership(outsider.user, organization)
    assert (owner.is_owner, owner.is_active) == (True, True)
    assert Permission.objects.filter(organization=organization).count() == len(SYSTEM_PERMISSIONS)
    assert set(
        Role.objects.filter(organization=organization, is_system_role=True).values_list(
            "slug", flat=True
        )
    ) == set(SYSTEM_ROLES)


def test_create_organization_generates_unique_slugs_from_the_name(outsider):
    first = outsider.client.post(URL, {"name": "Initech"}, format="json")
    second = outsider.client.post(URL, {"name": "Initech"}, format="json")
    third = outsider.client.post(URL, {"name": "  INITECH!! "}, format="json")

    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    assert [r.data["slug"] for r in (first, second, third)] == [
        "initech",
        "initech-2",
        "initech-3",
    ]


def test_create_organization_ignores_read_only_fields(outsider):
    response = outsider.client.post(
        URL,
        {
            "name": "Hooli",
            "slug": "taken",
            "subscription_plan": "enterprise",
            "subscription_status": "vip",
            "is_active": False,
            "settings": {"theme": "dark"},
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    assert response.data["slug"] == "hooli"
    assert response.data["subscription_plan"] == "free"
    assert response.data["subscription_status"] == "active"
    assert response.data["is_active"] is True
    assert response.data["settings"] == {"theme": "dark"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "A", "website": "not a url"}, "website"),
        ({"name": "A", "email": "nope"}, "email"),
        ({"name": "A", "zip_code": "1" * 21}, "zip_code"),
        ({"name": "A", "settings": "dark"}, "settings"),
        ({"name": "A", "settings": [1, 2]}, "settings"),
    ],
)
def test_create_organization_rejects_bad_input(outsider, body, field):
    response = outsider.client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.data["error"] == "An error occurred"
    assert field in response.data["details"]
    assert not UserOrganization.objects.filter(user=outsider.user).exists()


def test_create_organization_requires_authentication(api_client, db):
    response = api_client.post(URL, {"name": "Anon"}, format="json")

    assert response.status_code == 401
    assert not Organization.objects.filter(name="Anon").exists()


# --- list and retrieve ----------------------------------------------------------------------


def test_list_shows_only_the_callers_organizations(owner, other_org):
    make_member(other_org)

    response = owner.client.get(URL)

    assert response.status_code == 200
    assert response.data["count"] == 1
    (item,) = response.data["results"]
    assert list(item) == ORGANIZATION_KEYS
    assert item["id"] == owner.organization.pk
    assert item["member_count"] == 1


def test_member_count_counts_active_memberships_only(owner, viewer, sales):
    sales_membership = membership(sales.user, owner.organization)
    sales_membership.is_active = False
    sales_membership.save()

    response = owner.client.get(detail(owner.organization))

    assert response.status_code == 200
    assert response.data["member_count"] == 2


def test_list_is_forbidden_to_a_member_without_organizations_view(no_role):
    response = no_role.client.get(URL)

    assert response.status_code == 403


def test_list_orders_by_public_names_and_rejects_unknown_terms(owner):
    second = OrganizationFactory(name="Zeta", postal_code="00001", rbac=False)
    MembershipFactory(user=owner.user, organization=second, is_owner=True)
    owner.organization.postal_code = "99999"
    owner.organization.save()

    by_zip = owner.client.get(URL, {"ordering": "zip_code"})
    by_name_desc = owner.client.get(URL, {"ordering": "-name"})
    unknown = owner.client.get(URL, {"ordering": "member_count"})

    assert [o["id"] for o in by_zip.data["results"]] == [second.pk, owner.organization.pk]
    assert [o["name"] for o in by_name_desc.data["results"]] == ["Zeta", "Acme"]
    assert unknown.status_code == 400
    assert "ordering" in unknown.data["details"]


def test_retrieve_another_organization_is_not_found(owner, other_org):
    response = owner.client.get(detail(other_org))

    assert response.status_code == 404
    assert response.data == {
        "error": "Not Found",
        "details": "No Organization matches the given query.",
        "status_code": 404,
    }


def test_retrieve_by_a_viewer(viewer):
    response = viewer.client.get(detail(viewer.organization))

    assert response.status_code == 200
    assert response.data["name"] == "Acme"
    assert response.data["slug"] == "acme"


# --- update ---------------------------------------------------------------------------------


def test_admin_updates_the_organization(admin):
    response = admin.client.patch(
        detail(admin.organization),
        {"name": "Acme Ltd", "zip_code": "10115", "settings": {"currency": "EUR"}},
        format="json",
    )

    assert response.status_code == 200, response.data
    assert response.data["name"] == "Acme Ltd"
    assert response.data["zip_code"] == "10115"
    assert response.data["settings"] == {"currency": "EUR"}
    assert response.data["slug"] == "acme"
    assert response.data["id"] == admin.organization.pk
    admin.organization.refresh_from_db()
    assert (admin.organization.name, admin.organization.postal_code) == ("Acme Ltd", "10115")


def test_put_requires_the_name(owner):
    response = owner.client.put(detail(owner.organization), {"city": "Oslo"}, format="json")

    assert response.status_code == 400
    assert response.data["details"] == {"name": ["This field is required."]}


@pytest.mark.parametrize("role", ["viewer", "sales", "manager", "no_role"])
def test_update_is_forbidden_without_organizations_update(request, role):
    member = request.getfixturevalue(role)

    response = member.client.patch(detail(member.organization), {"name": "Hacked"}, format="json")

    assert response.status_code == 403
    member.organization.refresh_from_db()
    assert member.organization.name == "Acme"


def test_update_another_organization_is_not_found(owner, other_org):
    response = owner.client.patch(detail(other_org), {"name": "Mine"}, format="json")

    assert response.status_code == 404
    other_org.refresh_from_db()
    assert other_org.name == "Globex"


def test_only_an_owner_can_deactivate_the_organization(owner, admin):
    denied = admin.client.patch(detail(owner.organization), {"is_active": False}, format="json")

    assert denied.status_code == 403
    assert denied.data["error"] == (
        "Only organization owners can activate or deactivate an organization."
    )
    owner.organization.refresh_from_db()
    assert owner.organization.is_active is True

    allowed = owner.client.patch(detail(owner.organization), {"is_active": False}, format="json")

    assert allowed.status_code == 200
    assert allowed.data["is_active"] is False


def test_inactive_organization_is_read_only_until_its_owner_reactivates_it(owner, admin):
    owner.organization.is_active = False
    owner.organization.save()

    read = admin.client.get(detail(owner.organization))
    admin_write = admin.client.patch(detail(owner.organization), {"name": "X"}, format="json")
    owner_rename = owner.client.patch(detail(owner.organization), {"name": "X"}, format="json")
    admin_reactivate = admin.client.patch(
        detail(owner.organization), {"is_active": True}, format="json"
    )

    assert read.status_code == 200
    assert admin_write.status_code == 403
    assert admin_write.data["error"] == "This organization is inactive; its records are read-only."
    assert owner_rename.status_code == 403
    assert admin_reactivate.status_code == 403
    owner.organization.refresh_from_db()
    assert (owner.organization.name, owner.organization.is_active) == ("Acme", False)

    reactivated = owner.client.patch(detail(owner.organization), {"is_active": True}, format="json")
    rename = admin.client.patch(detail(owner.organization), {"name": "Acme 2"}, format="json")

    assert reactivated.status_code == 200
    assert reactivated.data["is_active"] is True
    assert rename.status_code == 200
    assert rename.data["name"] == "Acme 2"


# --- delete ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "manager", "viewer", "no_role"])
def test_only_the_owner_deletes_the_organization(request, role):
    member = request.getfixturevalue(role)

    response = member.client.delete(detail(member.organization))

    assert response.status_code == 403
    assert Organization.objects.filter(pk=member.organization.pk).exists()


def test_owner_deletes_the_organization_and_everything_it_owns(owner, viewer, other_owner):
    organization_id = owner.organization.pk

    response = owner.client.delete(detail(owner.organization))

    assert response.status_code == 204
    assert not Organization.objects.filter(pk=organization_id).exists()
    assert not UserOrganization.objects.filter(organization_id=organization_id).exists()
    assert not Role.objects.filter(organization_id=organization_id).exists()
    assert not UserRole.objects.filter(organization_id=organization_id).exists()
    assert Organization.objects.filter(pk=other_owner.organization.pk).exists()


def test_owner_can_delete_an_inactive_organization(owner):
    owner.organization.is_active = False
    owner.organization.save()

    response = owner.client.delete(detail(owner.organization))

    assert response.status_code == 204
    assert not Organization.objects.filter(pk=owner.organization.pk).exists()


def test_delete_another_organization_is_not_found(owner, other_org):
    response = owner.client.delete(detail(other_org))

    assert response.status_code == 404
    assert Organization.objects.filter(pk=other_org.pk).exists()


# --- my_organizations -----------------------------------------------------------------------


def test_my_organizations_lists_active_memberships_without_needing_a_role(no_role, other_org):
    inactive = MembershipFactory(user=no_role.user, organization=other_org)
    inactive.is_active = False
    inactive.save()
    third = OrganizationFactory(name="Third", rbac=False)
    MembershipFactory(user=no_role.user, organization=third)

    response = no_role.client.get(f"{URL}my_organizations/", HTTP_X_ORGANIZATION_ID=str(third.pk))

    assert response.status_code == 200
    assert [o["id"] for o in response.data] == [no_role.organization.pk, third.pk]
    assert list(response.data[0]) == ORGANIZATION_KEYS
    assert response.data[0]["member_count"] == 1


def test_my_organizations_is_empty_for_a_user_without_memberships(outsider):
    response = outsider.client.get(f"{URL}my_organizations/")

    assert response.status_code == 200
    assert response.data == []


# --- members --------------------------------------------------------------------------------


def test_members_lists_active_memberships_with_user_and_organization(owner, viewer, sales):
    gone = membership(sales.user, owner.organization)
    gone.is_active = False
    gone.save()

    response = viewer.client.get(detail(owner.organization, "members"))

    assert response.status_code == 200
    assert [m["user"]["id"] for m in response.data] == [owner.user.pk, viewer.user.pk]
    first = response.data[0]
    assert list(first) == MEMBERSHIP_KEYS
    assert first["is_owner"] is True
    assert first["user"]["email"] == owner.user.email
    assert first["organization"]["id"] == owner.organization.pk
    assert first["organization"]["member_count"] == 2
    assert first["user_id"] == owner.user.pk
    assert first["organization_id"] == owner.organization.pk


def test_members_of_another_organization_is_not_found(owner, other_owner):
    response = owner.client.get(detail(other_owner.organization, "members"))

    assert response.status_code == 404


def test_members_needs_organizations_view(no_role):
    response = no_role.client.get(detail(no_role.organization, "members"))

    assert response.status_code == 404


# --- add_member -----------------------------------------------------------------------------


def test_owner_adds_a_member_by_user_id(owner):
    newcomer = make_colleague(owner)

    response = owner.client.post(
        detail(owner.organization, "add_member"), {"user_id": newcomer.pk}, format="json"
    )

    assert response.status_code == 201, response.data
    assert list(response.data) == MEMBERSHIP_KEYS
    assert response.data["user"]["id"] == newcomer.pk
    assert response.data["organization"]["member_count"] == 2
    assert (response.data["is_active"], response.data["is_owner"]) == (True, False)
    added = membership(newcomer, owner.organization)
    assert (added.is_active, added.is_owner) == (True, False)


def test_admin_adding_by_email_invites_the_address(admin):
    newcomer = UserFactory(email="New.Person@Example.com")

    response = admin.client.post(
        detail(admin.organization, "add_member"),
        {"email": "new.person@example.COM"},
        format="json",
    )

    assert response.status_code == 201, response.data
    invitation = Invitation.objects.get(organization=admin.organization)
    assert response.data["id"] == invitation.pk
    assert (response.data["email"], response.data["status"]) == (
        "new.person@example.COM",
        "pending",
    )
    assert not UserOrganization.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize("role", ["manager", "sales", "viewer", "no_role"])
def test_add_member_is_forbidden_without_organizations_manage(request, role):
    member = request.getfixturevalue(role)
    newcomer = UserFactory()

    response = member.client.post(
        detail(member.organization, "add_member"), {"user_id": newcomer.pk}, format="json"
    )

    assert response.status_code == 403
    assert response.data["error"] == ADD_MEMBER_DENIED
    assert not UserOrganization.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user_id"),
        ({"user_id": "abc"}, "user_id"),
        ({"user_id": 10**20}, "user_id"),
        ({"user_id": 987654}, "user_id"),
        ({"email": "not-an-email"}, "email"),
        ({"user_id": 1, "is_owner": "maybe"}, "is_owner"),
        ({"email": "someone@example.com", "is_owner": True}, "is_owner"),
        ({"email": "someone@example.com", "role_id": 987654}, "role_id"),
    ],
)
def test_add_member_rejects_bad_bodies(owner, body, field):
    before = UserOrganization.objects.count()

    response = owner.client.post(detail(owner.organization, "add_member"), body, format="json")

    assert response.status_code == 400
    assert field in response.data["details"]
    assert UserOrganization.objects.count() == before


def test_add_member_rejects_an_existing_active_member(owner, viewer):
    response = owner.client.post(
        detail(owner.organization, "add_member"), {"user_id": viewer.user.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "user_id": ["This user is already a member of the organization."]
    }
    assert UserOrganization.objects.filter(user=viewer.user).count() == 1


def test_add_member_reactivates_a_former_member(owner, viewer):
    former = membership(viewer.user, owner.organization)
    former.is_active = False
    former.save()
    # Still a colleague elsewhere, so addable by id.
    shared = OrganizationFactory()
    MembershipFactory(user=owner.user, organization=shared)
    MembershipFactory(user=viewer.user, organization=shared)

    response = owner.client.post(
        detail(owner.organization, "add_member"), {"user_id": viewer.user.pk}, format="json"
    )

    assert response.status_code == 201
    assert response.data["id"] == former.pk
    former.refresh_from_db()
    assert (former.is_active, former.left_at) == (True, None)


def test_nobody_becomes_an_owner_through_an_add(owner, admin):
    newcomer = make_colleague(owner)
    MembershipFactory(
        user=admin.user, organization=newcomer.user_organizations.first().organization
    )

    for caller in (admin, owner):
        before = database_snapshot()
        response = caller.client.post(
            detail(caller.organization, "add_member"),
            {"user_id": newcomer.pk, "is_owner": True},
            format="json",
        )

        assert response.status_code == 400
        assert response.data["details"] == {"is_owner": [OWNERSHIP_ON_ADD]}
        assert database_snapshot() == before


def test_add_member_to_another_organization_is_not_found(owner, other_org):
    newcomer = UserFactory()

    response = owner.client.post(
        detail(other_org, "add_member"), {"user_id": newcomer.pk}, format="json"
    )

    assert response.status_code == 404
    assert not UserOrganization.objects.filter(user=newcomer).exists()


def test_add_member_to_an_inactive_organization_is_refused(owner):
    owner.organization.is_active = False
    owner.organization.save()
    newcomer = UserFactory()

    response = owner.client.post(
        detail(owner.organization, "add_member"), {"user_id": newcomer.pk}, format="json"
    )

    assert response.status_code == 403
    assert not UserOrganization.objects.filter(user=newcomer).exists()


# --- remove_member --------------------------------------------------------------------------


def test_admin_removes_a_member_and_their_roles(admin, sales):
    response = admin.client.post(
        detail(admin.organization, "remove_member"), {"user_id": sales.user.pk}, format="json"
    )

    assert response.status_code == 200
    assert response.data == {"message": "Member removed successfully."}
    removed = membership(sales.user, admin.organization)
    assert removed.is_active is False
    assert removed.left_at is not None
    assert not UserRole.objects.filter(user=sales.user).exists()
    assert sales.client.get("/api/organizations/my_organizations/").data == []


def test_an_owner_cannot_be_removed(owner, admin):
    response = admin.client.post(
        detail(admin.organization, "remove_member"), {"user_id": owner.user.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.data["details"] == {"user_id": ["An organization owner cannot be removed."]}
    assert membership(owner.user, owner.organization).is_active is True


@pytest.mark.parametrize("body", [{}, {"user_id": "x"}, {"user_id": 987654}])
def test_remove_member_rejects_bad_or_unknown_users(admin, body):
    response = admin.client.post(detail(admin.organization, "remove_member"), body, format="json")

    assert response.status_code == 400
    assert "user_id" in response.data["details"]


def test_remove_member_of_another_organization_is_refused(admin, other_owner):
    outsider_member = make_member(other_owner.organization)

    foreign_route = admin.client.post(
        detail(other_owner.organization, "remove_member"),
        {"user_id": outsider_member.user.pk},
        format="json",
    )
    foreign_body = admin.client.post(
        detail(admin.organization, "remove_member"),
        {"user_id": outsider_member.user.pk},
        format="json",
    )

    assert foreign_route.status_code == 404
    assert foreign_body.status_code == 400
    assert membership(outsider_member.user, other_owner.organization).is_active is True


@pytest.mark.parametrize("role", ["manager", "viewer"])
def test_remove_member_is_forbidden_without_organizations_manage(request, role, sales):
    member = request.getfixturevalue(role)

    response = member.client.post(
        detail(member.organization, "remove_member"), {"user_id": sales.user.pk}, format="json"
    )

    assert response.status_code == 403
    assert membership(sales.user, sales.organization).is_active is True


# --- leave ----------------------------------------------------------------------------------


def test_a_member_leaves_and_loses_their_roles(owner, viewer):
    response = viewer.client.post(detail(viewer.organization, "leave"))

    assert response.status_code == 200
    assert response.data == {"message": "You have left the organization."}
    assert membership(viewer.user, viewer.organization).is_active is False
    assert not UserRole.objects.filter(user=viewer.user).exists()
    assert viewer.client.get(detail(viewer.organization)).status_code == 404


def test_a_member_without_any_role_can_leave(no_role):
    response = no_role.client.post(detail(no_role.organization, "leave"))

    assert response.status_code == 200
    assert membership(no_role.user, no_role.organization).is_active is False


def test_the_last_owner_cannot_leave(owner, admin):
    response = owner.client.post(detail(owner.organization, "leave"))

    assert response.status_code == 400
    assert "non_field_errors" in response.data["details"]
    kept = membership(owner.user, owner.organization)
    assert (kept.is_active, kept.is_owner) == (True, True)


def test_an_owner_may_leave_when_another_owner_remains(owner):
    co_owner = make_member(owner.organization, owner=True)

    response = owner.client.post(detail(owner.organization, "leave"))

    assert response.status_code == 200
    left = membership(owner.user, owner.organization)
    assert (left.is_active, left.is_owner) == (False, False)
    assert membership(co_owner.user, owner.organization).is_owner is True


def test_leaving_an_organization_one_is_not_in_is_not_found(owner, other_org):
    response = owner.client.post(detail(other_org, "leave"))

    assert response.status_code == 404


# --- query counts ---------------------------------------------------------------------------


def _member_of(user, count: int) -> None:
    for n in range(count):
        organization = OrganizationFactory(name=f"Bulk {n}", rbac=False)
        MembershipFactory(user=user, organization=organization, is_owner=True)
        MembershipFactory(organization=organization)


def test_organization_list_query_count_is_constant(outsider):
    _member_of(outsider.user, 1)
    few, response = count_queries(outsider.client, f"{URL}?page_size=100")
    assert response.data["count"] == 1
    _member_of(outsider.user, 49)

    many, response = count_queries(outsider.client, f"{URL}?page_size=100")

    assert response.data["count"] == 50
    assert all(item["member_count"] == 2 for item in response.data["results"])
    assert many == few


def test_my_organizations_query_count_is_constant(outsider):
    _member_of(outsider.user, 1)
    few, response = count_queries(outsider.client, f"{URL}my_organizations/")
    assert len(response.data) == 1
    _member_of(outsider.user, 49)

    many, response = count_queries(outsider.client, f"{URL}my_organizations/")

    assert len(response.data) == 50
    assert many == few


def test_members_query_count_is_constant(owner):
    few, response = count_queries(owner.client, detail(owner.organization, "members"))
    assert len(response.data) == 1
    for _ in range(49):
        MembershipFactory(organization=owner.organization)

    many, response = count_queries(owner.client, detail(owner.organization, "members"))

    assert len(response.data) == 50
    assert response.data[-1]["organization"]["member_count"] == 50
    assert many == few
