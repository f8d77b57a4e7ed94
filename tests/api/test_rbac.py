"""Permissions, roles and user-roles: CRUD, actions, RBAC checks and tenancy."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import Customer, Permission, Role, RolePermission, UserOrganization, UserRole
from crmApp.permissions import ACTIONS, RESOURCES, SYSTEM_PERMISSIONS
from crmApp.services.rbac import FIXED_PAIR, role_create
from tests.conftest import make_member, membership
from tests.factories import CustomerFactory, MembershipFactory, OrganizationFactory, UserFactory

PERMISSIONS = "/api/permissions/"
ROLES = "/api/roles/"
USER_ROLES = "/api/user-roles/"
PERMISSION_KEYS = [
    "id",
    "organization",
    "resource",
    "action",
    "description",
    "is_system_permission",
    "created_at",
]
ROLE_KEYS = [
    "id",
    "organization",
    "name",
    "slug",
    "description",
    "is_system_role",
    "is_active",
    "created_at",
    "updated_at",
    "permissions",
    "permission_count",
    "permission_ids",
]
USER_ROLE_KEYS = ["id", "user", "organization", "role", "role_id", "is_active", "assigned_at"]
DUPLICATE_PERMISSION = "The fields organization, resource, action must make a unique set."


def detail(base: str, item, action: str = "") -> str:
    return f"{base}{item.pk}/{action + '/' if action else ''}"


def perm(organization, resource: str, action: str) -> Permission:
    return Permission.objects.get(organization=organization, resource=resource, action=action)


def role(organization, slug: str) -> Role:
    return Role.objects.get(organization=organization, slug=slug)


def measure(client, url: str, params=None) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.data
    return len(context.captured_queries), response


# === permissions ============================================================================


def test_permission_list_shows_the_organizations_permissions(owner, other_owner):
    response = owner.client.get(PERMISSIONS, {"page_size": 100})

    assert response.status_code == 200
    assert response.data["count"] == len(SYSTEM_PERMISSIONS)
    first = response.data["results"][0]
    assert list(first) == PERMISSION_KEYS
    assert {p["organization"] for p in response.data["results"]} == {owner.organization.pk}
    assert first["is_system_permission"] is True


def test_permission_list_orders_by_contract_fields(owner):
    response = owner.client.get(PERMISSIONS, {"ordering": "resource,-action", "page_size": 5})
    unknown = owner.client.get(PERMISSIONS, {"ordering": "role"})

    assert [(p["resource"], p["action"]) for p in response.data["results"]] == [
        ("activities", "view"),
        ("activities", "update"),
        ("activities", "manage"),
        ("activities", "delete"),
        ("activities", "create"),
    ]
    assert unknown.status_code == 400


@pytest.mark.parametrize(("role_name", "status"), [("manager", 200), ("viewer", 403)])
def test_permission_list_needs_permissions_view(request, role_name, status):
    member = request.getfixturevalue(role_name)

    response = member.client.get(PERMISSIONS)

    assert response.status_code == status


def test_by_resource_groups_permissions(owner):
    response = owner.client.get(f"{PERMISSIONS}by_resource/")

    assert response.status_code == 200
    assert sorted(response.data) == sorted(RESOURCES)
    assert [p["action"] for p in response.data["customers"]] == sorted(ACTIONS)
    assert list(response.data["customers"][0]) == PERMISSION_KEYS


def test_by_resource_needs_permissions_view(sales):
    response = sales.client.get(f"{PERMISSIONS}by_resource/")

    assert response.status_code == 403


def test_retrieve_another_organizations_permission_is_not_found(owner, other_org):
    response = owner.client.get(detail(PERMISSIONS, perm(other_org, "roles", "view")))

    assert response.status_code == 404
    assert response.data["details"] == "No Permission matches the given query."


def test_create_a_missing_permission(owner):
    perm(owner.organization, "reports", "view").delete()

    response = owner.client.post(
        PERMISSIONS,
        {
            "organization": owner.organization.pk,
            "resource": "reports",
            "action": "view",
            "description": "Read reports",
            "is_system_permission": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    assert list(response.data) == PERMISSION_KEYS
    assert response.data["resource"] == "reports"
    assert response.data["is_system_permission"] is False
    created = Permission.objects.get(pk=response.data["id"])
    assert (created.organization_id, created.description) == (
        owner.organization.pk,
        "Read reports",
    )


def test_create_defaults_to_the_callers_only_organization(owner):
    perm(owner.organization, "reports", "view").delete()

    response = owner.client.post(
        PERMISSIONS, {"resource": "reports", "action": "view"}, format="json"
    )

    assert response.status_code == 201
    assert response.data["organization"] == owner.organization.pk


def test_create_a_duplicate_permission_is_a_400(owner):
    response = owner.client.post(
        PERMISSIONS,
        {"organization": owner.organization.pk, "resource": "customers", "action": "view"},
        format="json",
    )

    assert response.status_code == 400
    assert response.data["details"] == {"non_field_errors": [DUPLICATE_PERMISSION]}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"resource": "spaceships", "action": "view"},
            "resource",
            '"spaceships" is not a valid choice.',
        ),
        ({"resource": "customers", "action": "owner"}, "action", '"owner" is not a valid choice.'),
        ({"action": "view"}, "resource", "This field is required."),
        ({"resource": "customers"}, "action", "This field is required."),
    ],
)
def test_create_permission_validates_the_vocabulary(owner, body, field, message):
    before = Permission.objects.count()

    response = owner.client.post(
        PERMISSIONS, {"organization": owner.organization.pk, **body}, format="json"
    )

    assert response.status_code == 400
    assert response.data["details"][field] == [message]
    assert Permission.objects.count() == before


def test_create_permission_in_another_organization_is_a_400(owner, other_org):
    perm(other_org, "reports", "view").delete()

    response = owner.client.post(
        PERMISSIONS,
        {"organization": other_org.pk, "resource": "reports", "action": "view"},
        format="json",
    )

    assert response.status_code == 400
    assert "organization" in response.data["details"]
    assert not Permission.objects.filter(
        organization=other_org, resource="reports", action="view"
    ).exists()


@pytest.mark.parametrize("role_name", ["manager", "sales", "viewer", "no_role"])
def test_create_permission_is_forbidden_without_permissions_create(request, role_name):
    member = request.getfixturevalue(role_name)
    perm(member.organization, "reports", "view").delete()

    response = member.client.post(
        PERMISSIONS,
        {"organization": member.organization.pk, "resource": "reports", "action": "view"},
        format="json",
    )

    assert response.status_code == 403
    assert not Permission.objects.filter(
        organization=member.organization, resource="reports", action="view"
    ).exists()


def test_system_permissions_cannot_be_changed_or_deleted(admin):
    system = perm(admin.organization, "customers", "view")

    update = admin.client.patch(
        detail(PERMISSIONS, system), {"description": "changed"}, format="json"
    )
    delete = admin.client.delete(detail(PERMISSIONS, system))

    assert update.status_code == 400
    assert delete.status_code == 400
    assert delete.data["details"] == {
        "non_field_errors": ["System permissions cannot be changed or deleted."]
    }
    system.refresh_from_db()
    assert system.description == "View customers"


def test_a_custom_permission_keeps_its_pair_and_can_be_deleted(admin):
    perm(admin.organization, "reports", "view").delete()
    perm(admin.organization, "reports", "create").delete()
    custom = Permission.objects.create(
        organization=admin.organization, resource="reports", action="view"
    )

    update = admin.client.patch(
        detail(PERMISSIONS, custom), {"action": "view", "description": "x"}, format="json"
    )
    rename = admin.client.patch(detail(PERMISSIONS, custom), {"action": "create"}, format="json")
    duplicate = admin.client.patch(detail(PERMISSIONS, custom), {"action": "delete"}, format="json")
    move = admin.client.patch(detail(PERMISSIONS, custom), {"organization": 987654}, format="json")

    assert update.status_code == 200
    assert (update.data["id"], update.data["description"]) == (custom.pk, "x")
    assert rename.status_code == 400
    assert rename.data["details"] == {"action": [FIXED_PAIR.format(field="action")]}
    assert duplicate.status_code == 400
    assert duplicate.data["details"] == {"action": [FIXED_PAIR.format(field="action")]}
    assert move.status_code == 400
    custom.refresh_from_db()
    assert (custom.resource, custom.action, custom.organization_id) == (
        "reports",
        "view",
        admin.organization.pk,
    )

    delete = admin.client.delete(detail(PERMISSIONS, custom))

    assert delete.status_code == 204
    assert not Permission.objects.filter(pk=custom.pk).exists()


def test_permission_list_query_count_is_constant(outsider):
    organization = OrganizationFactory(name="Bare", rbac=False)
    MembershipFactory(user=outsider.user, organization=organization, is_owner=True)
    pairs = [(r, a) for r in RESOURCES for a in ACTIONS][:50]
    Permission.objects.create(organization=organization, resource=pairs[0][0], action=pairs[0][1])
    few, response = measure(outsider.client, PERMISSIONS, {"page_size": 100})
    assert response.data["count"] == 1
    Permission.objects.bulk_create(
        Permission(organization=organization, resource=r, action=a) for r, a in pairs[1:]
    )

    many, response = measure(outsider.client, PERMISSIONS, {"page_size": 100})

    assert response.data["count"] == 50
    assert many == few


# === roles ==================================================================================


def test_role_list_includes_permissions_and_counts(owner, other_owner):
    response = owner.client.get(ROLES)

    assert response.status_code == 200
    assert response.data["count"] == 4
    by_slug = {r["slug"]: r for r in response.data["results"]}
    assert sorted(by_slug) == ["admin", "manager", "sales", "viewer"]
    viewer_role = by_slug["viewer"]
    assert list(viewer_role) == ROLE_KEYS
    assert viewer_role["permission_count"] == len(viewer_role["permissions"]) == 10
    assert list(viewer_role["permissions"][0]) == PERMISSION_KEYS
    assert {(p["resource"], p["action"]) for p in viewer_role["permissions"]} >= {
        ("customers", "view"),
        ("organizations", "view"),
    }
    assert viewer_role["permission_ids"] == [p["id"] for p in viewer_role["permissions"]]


@pytest.mark.parametrize(
    ("role_name", "status"), [("manager", 200), ("sales", 403), ("viewer", 403), ("no_role", 403)]
)
def test_role_list_needs_roles_view(request, role_name, status):
    member = request.getfixturevalue(role_name)

    response = member.client.get(ROLES)

    assert response.status_code == status


def test_create_a_role_with_permissions(admin):
    granted = [
        perm(admin.organization, "customers", "view"),
        perm(admin.organization, "leads", "view"),
    ]

    response = admin.client.post(
        ROLES,
        {
            "organization": admin.organization.pk,
            "name": "Support Agent",
            "description": "Answers tickets",
            "permission_ids": [p.pk for p in granted],
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    assert list(response.data) == ROLE_KEYS
    assert response.data["slug"] == "support-agent"
    assert response.data["is_system_role"] is False
    assert response.data["permission_count"] == 2
    assert [p["id"] for p in response.data["permissions"]] == sorted(p.pk for p in granted)
    created = Role.objects.get(pk=response.data["id"])
    assert set(created.role_permissions.values_list("permission_id", flat=True)) == {
        p.pk for p in granted
    }


def test_role_slugs_are_unique_per_organization(admin, other_owner):
    first = admin.client.post(ROLES, {"name": "Field Team"}, format="json")
    second = admin.client.post(ROLES, {"name": "Field-Team"}, format="json")
    elsewhere = other_owner.client.post(ROLES, {"name": "Field Team"}, format="json")

    assert [r.status_code for r in (first, second, elsewhere)] == [201, 201, 201]
    assert [r.data["slug"] for r in (first, second, elsewhere)] == [
        "field-team",
        "field-team-2",
        "field-team",
    ]


def test_duplicate_role_name_is_a_400(admin):
    response = admin.client.post(ROLES, {"name": "sales"}, format="json")

    assert response.status_code == 400
    assert response.data["details"] == {
        "name": ["A role with this name already exists in this organization."]
    }
    assert Role.objects.filter(organization=admin.organization).count() == 4


def test_create_role_rejects_permissions_of_another_organization(admin, other_org):
    foreign = perm(other_org, "customers", "view")
    own = perm(admin.organization, "customers", "view")

    response = admin.client.post(
        ROLES, {"name": "Spy", "permission_ids": [own.pk, foreign.pk]}, format="json"
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "permission_ids": [f'Invalid pk "{foreign.pk}" - object does not exist.']
    }
    assert not Role.objects.filter(name="Spy").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "A", "permission_ids": "1"}, "permission_ids"),
        ({"name": "A", "permission_ids": ["x"]}, "permission_ids"),
        ({"name": "A", "organization": "abc"}, "organization"),
    ],
)
def test_create_role_rejects_bad_input(admin, body, field):
    response = admin.client.post(ROLES, body, format="json")

    assert response.status_code == 400
    assert field in response.data["details"]
    assert Role.objects.filter(organization=admin.organization).count() == 4


def test_create_role_in_another_organization_is_a_400(admin, other_org):
    response = admin.client.post(
        ROLES, {"organization": other_org.pk, "name": "Mole"}, format="json"
    )

    assert response.status_code == 400
    assert "organization" in response.data["details"]
    assert not Role.objects.filter(name="Mole").exists()


@pytest.mark.parametrize("role_name", ["manager", "sales", "viewer", "no_role"])
def test_create_role_is_forbidden_without_roles_create(request, role_name):
    member = request.getfixturevalue(role_name)

    response = member.client.post(ROLES, {"name": "Mine"}, format="json")

    assert response.status_code == 403
    assert not Role.objects.filter(name="Mine").exists()


def test_update_a_role_and_replace_its_permissions(admin):
    custom = role_create(
        actor=None,
        organization=admin.organization,
        name="Temp",
        permissions=[perm(admin.organization, "leads", "view")],
        access=None,
    )
    replacement = perm(admin.organization, "deals", "view")

    response = admin.client.patch(
        detail(ROLES, custom),
        {"name": "Deal Desk", "permission_ids": [replacement.pk], "is_system_role": True},
        format="json",
    )

    assert response.status_code == 200, response.data
    assert response.data["name"] == "Deal Desk"
    assert response.data["slug"] == "temp"
    assert response.data["is_system_role"] is False
    assert response.data["permission_ids"] == [replacement.pk]
    assert response.data["permission_count"] == 1


def test_role_update_cannot_move_or_duplicate(admin, other_org):
    custom = role_create(actor=None, organization=admin.organization, name="Temp", access=None)

    move = admin.client.patch(detail(ROLES, custom), {"organization": other_org.pk}, format="json")
    duplicate = admin.client.patch(detail(ROLES, custom), {"name": "Viewer"}, format="json")

    assert move.status_code == 400
    assert duplicate.status_code == 400
    custom.refresh_from_db()
    assert (custom.organization_id, custom.name) == (admin.organization.pk, "Temp")


def test_update_role_of_another_organization_is_not_found(admin, other_org):
    foreign = role(other_org, "viewer")

    response = admin.client.patch(detail(ROLES, foreign), {"name": "Owned"}, format="json")

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Viewer"


def test_system_roles_cannot_be_deleted(admin):
    system = role(admin.organization, "viewer")

    response = admin.client.delete(detail(ROLES, system))

    assert response.status_code == 400
    assert response.data["details"] == {"non_field_errors": ["System roles cannot be deleted."]}
    assert Role.objects.filter(pk=system.pk).exists()


def test_a_custom_role_is_deleted_with_its_assignments(admin, no_role):
    custom = role_create(actor=None, organization=admin.organization, name="Temp", access=None)
    UserRole.objects.create(user=no_role.user, organization=admin.organization, role=custom)

    response = admin.client.delete(detail(ROLES, custom))

    assert response.status_code == 204
    assert not Role.objects.filter(pk=custom.pk).exists()
    assert not UserRole.objects.filter(role_id=custom.pk).exists()


def test_manager_cannot_delete_roles(manager):
    custom = role_create(actor=None, organization=manager.organization, name="Temp", access=None)

    response = manager.client.delete(detail(ROLES, custom))

    assert response.status_code == 403
    assert Role.objects.filter(pk=custom.pk).exists()


# --- assign_permission / remove_permission -----------------------------------------------


def test_assign_permission_is_idempotent(admin):
    target = role(admin.organization, "viewer")
    granted = perm(admin.organization, "deals", "update")
    url = detail(ROLES, target, "assign_permission")

    first = admin.client.post(url, {"permission_id": granted.pk}, format="json")
    second = admin.client.post(url, {"permission_id": granted.pk}, format="json")

    assert first.status_code == second.status_code == 200
    assert first.data == {"message": "Permission assigned successfully."}
    assert RolePermission.objects.filter(role=target, permission=granted).count() == 1


def test_assign_permission_errors(admin, other_org):
    target = role(admin.organization, "viewer")
    url = detail(ROLES, target, "assign_permission")
    before = RolePermission.objects.filter(role=target).count()

    missing = admin.client.post(url, {}, format="json")
    junk = admin.client.post(url, {"permission_id": "abc"}, format="json")
    foreign = admin.client.post(
        url, {"permission_id": perm(other_org, "deals", "update").pk}, format="json"
    )
    unknown = admin.client.post(url, {"permission_id": 987654}, format="json")

    assert missing.status_code == 400
    assert missing.data["error"] == "permission_id is required"
    assert junk.status_code == 400
    assert "permission_id" in junk.data["details"]
    for response in (foreign, unknown):
        assert response.status_code == 404
        assert response.data["error"] == "Permission not found"
    assert RolePermission.objects.filter(role=target).count() == before


def test_assign_permission_on_another_organizations_role_is_not_found(admin, other_org):
    foreign_role = role(other_org, "viewer")
    own_permission = perm(admin.organization, "deals", "update")

    response = admin.client.post(
        detail(ROLES, foreign_role, "assign_permission"),
        {"permission_id": own_permission.pk},
        format="json",
    )

    assert response.status_code == 404
    assert not RolePermission.objects.filter(role=foreign_role, permission=own_permission).exists()


@pytest.mark.parametrize(
    ("role_name", "status"),
    [("manager", 403), ("sales", 404), ("viewer", 404), ("no_role", 404)],
)
def test_assign_permission_needs_roles_manage(request, role_name, status):
    """Managers read roles (403 on writes); the others cannot even see them (404)."""
    member = request.getfixturevalue(role_name)
    own_role = role(member.organization, "viewer")
    wanted = perm(member.organization, "roles", "manage")

    response = member.client.post(
        detail(ROLES, own_role, "assign_permission"), {"permission_id": wanted.pk}, format="json"
    )

    assert response.status_code == status
    assert not RolePermission.objects.filter(role=own_role, permission=wanted).exists()


def test_remove_permission(admin):
    target = role(admin.organization, "viewer")
    granted = perm(admin.organization, "customers", "view")
    url = detail(ROLES, target, "remove_permission")

    missing = admin.client.post(url, {}, format="json")
    removed = admin.client.post(url, {"permission_id": granted.pk}, format="json")
    again = admin.client.post(url, {"permission_id": granted.pk}, format="json")

    assert missing.status_code == 400
    assert missing.data["error"] == "permission_id is required"
    assert removed.status_code == again.status_code == 200
    assert removed.data == {"message": "Permission removed successfully."}
    assert not RolePermission.objects.filter(role=target, permission=granted).exists()


def test_role_list_query_count_is_constant(owner):
    grants = [perm(owner.organization, "customers", "view")]
    few, response = measure(owner.client, ROLES, {"page_size": 100})
    assert response.data["count"] == 4
    for n in range(46):
        role_create(
            actor=None,
            organization=owner.organization,
            name=f"Role {n}",
            permissions=grants,
            access=None,
        )

    many, response = measure(owner.client, ROLES, {"page_size": 100})

    assert response.data["count"] == 50
    assert response.data["results"][-1]["permission_count"] == 1
    assert many == few


# === user roles =============================================================================


def test_user_role_list_nests_the_role_with_its_permissions(admin, sales, other_owner):
    response = admin.client.get(USER_ROLES)

    assert response.status_code == 200
    assert response.data["count"] == 2
    item = response.data["results"][1]
    assert list(item) == USER_ROLE_KEYS
    assert item["user"] == sales.user.pk
    assert item["organization"] == admin.organization.pk
    assert item["role"]["slug"] == "sales"
    assert item["role_id"] == item["role"]["id"]
    assert item["role"]["permission_count"] == len(item["role"]["permissions"]) == 17


@pytest.mark.parametrize(("role_name", "status"), [("manager", 200), ("sales", 403)])
def test_user_role_list_needs_roles_view(request, role_name, status):
    member = request.getfixturevalue(role_name)

    response = member.client.get(USER_ROLES)

    assert response.status_code == status


def test_assigning_a_role_grants_its_permissions(admin, no_role):
    assert no_role.client.get(PERMISSIONS).status_code == 403

    response = admin.client.post(
        USER_ROLES,
        {
            "user": no_role.user.pk,
            "organization": admin.organization.pk,
            "role_id": role(admin.organization, "manager").pk,
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    assert list(response.data) == USER_ROLE_KEYS
    assert response.data["role"]["slug"] == "manager"
    assigned = UserRole.objects.get(pk=response.data["id"])
    assert (assigned.user_id, assigned.assigned_by_id) == (no_role.user.pk, admin.user.pk)
    assert no_role.client.get(PERMISSIONS).status_code == 200


@pytest.mark.parametrize("target", ["outsider", "other_owner", "former"])
def test_only_active_members_can_be_given_roles(request, admin, target):
    if target == "former":
        member = make_member(admin.organization)
        row = membership(member.user, admin.organization)
        row.is_active = False
        row.save()
        user = member.user
    else:
        user = request.getfixturevalue(target).user

    response = admin.client.post(
        USER_ROLES,
        {"user": user.pk, "role_id": role(admin.organization, "viewer").pk},
        format="json",
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "user": [f'Invalid pk "{user.pk}" - object does not exist.']
    }
    assert not UserRole.objects.filter(user=user, organization=admin.organization).exists()


def test_a_role_of_another_organization_is_a_400(admin, no_role, other_org):
    foreign = role(other_org, "admin")

    response = admin.client.post(
        USER_ROLES, {"user": no_role.user.pk, "role_id": foreign.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "role_id": [f'Invalid pk "{foreign.pk}" - object does not exist.']
    }
    assert not UserRole.objects.filter(user=no_role.user).exists()


def test_assigning_in_another_organization_is_a_400(admin, other_owner):
    response = admin.client.post(
        USER_ROLES,
        {
            "user": admin.user.pk,
            "organization": other_owner.organization.pk,
            "role_id": role(other_owner.organization, "admin").pk,
        },
        format="json",
    )

    assert response.status_code == 400
    assert "organization" in response.data["details"]
    assert not UserRole.objects.filter(organization=other_owner.organization).exists()


def test_a_duplicate_assignment_is_a_400(admin, sales):
    response = admin.client.post(
        USER_ROLES,
        {"user": sales.user.pk, "role_id": role(admin.organization, "sales").pk},
        format="json",
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "non_field_errors": ["This user already has this role in this organization."]
    }
    assert UserRole.objects.filter(user=sales.user).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role_id": 1}, "user"),
        ({"user": "x", "role_id": 1}, "user"),
        ({"user": 1}, "role_id"),
        ({"user": 1, "role_id": "x"}, "role_id"),
    ],
)
def test_user_role_create_rejects_bad_bodies(admin, body, field):
    before = UserRole.objects.count()

    response = admin.client.post(USER_ROLES, body, format="json")

    assert response.status_code == 400
    assert field in response.data["details"]
    assert UserRole.objects.count() == before


@pytest.mark.parametrize("role_name", ["manager", "sales", "viewer", "no_role"])
def test_nobody_without_roles_manage_grants_roles(request, role_name):
    member = request.getfixturevalue(role_name)
    before = UserRole.objects.filter(user=member.user).count()

    response = member.client.post(
        USER_ROLES,
        {"user": member.user.pk, "role_id": role(member.organization, "admin").pk},
        format="json",
    )

    assert response.status_code == 403
    assert UserRole.objects.filter(user=member.user).count() == before


def test_deactivating_an_assignment_removes_its_effect(admin, manager):
    assignment = UserRole.objects.get(user=manager.user)

    response = admin.client.patch(
        detail(USER_ROLES, assignment), {"is_active": False}, format="json"
    )

    assert response.status_code == 200
    assert response.data["is_active"] is False
    assert response.data["role"]["slug"] == "manager"
    assert manager.client.get(PERMISSIONS).status_code == 403


def test_user_role_update_stays_in_its_organization(admin, manager, other_org):
    assignment = UserRole.objects.get(user=manager.user)

    move = admin.client.patch(
        detail(USER_ROLES, assignment), {"organization": other_org.pk}, format="json"
    )
    foreign_role = admin.client.patch(
        detail(USER_ROLES, assignment), {"role_id": role(other_org, "admin").pk}, format="json"
    )

    assert move.status_code == foreign_role.status_code == 400
    assignment.refresh_from_db()
    assert (assignment.organization_id, assignment.role.slug) == (admin.organization.pk, "manager")


def test_user_role_of_another_organization_is_not_found(admin, other_org):
    stranger = make_member(other_org, role="viewer")
    assignment = UserRole.objects.get(user=stranger.user)

    get = admin.client.get(detail(USER_ROLES, assignment))
    delete = admin.client.delete(detail(USER_ROLES, assignment))

    assert get.status_code == delete.status_code == 404
    assert UserRole.objects.filter(pk=assignment.pk).exists()


def test_delete_an_assignment(admin, sales):
    assignment = UserRole.objects.get(user=sales.user)

    response = admin.client.delete(detail(USER_ROLES, assignment))

    assert response.status_code == 204
    assert not UserRole.objects.filter(pk=assignment.pk).exists()


def test_user_role_list_query_count_is_constant(owner):
    make_member(owner.organization, role="sales")
    few, response = measure(owner.client, USER_ROLES, {"page_size": 100})
    assert response.data["count"] == 1
    for _ in range(49):
        make_member(owner.organization, role="viewer")

    many, response = measure(owner.client, USER_ROLES, {"page_size": 100})

    assert response.data["count"] == 50
    assert many == few


# --- my_roles -------------------------------------------------------------------------------


def test_my_roles_lists_active_assignments_in_active_memberships(sales, other_org):
    elsewhere = make_member(other_org, role="viewer")
    MembershipFactory(user=sales.user, organization=other_org, is_active=False)
    UserRole.objects.create(user=sales.user, organization=other_org, role=role(other_org, "admin"))
    inactive = UserRole.objects.create(
        user=sales.user,
        organization=sales.organization,
        role=role(sales.organization, "viewer"),
        is_active=False,
    )

    response = sales.client.get(f"{USER_ROLES}my_roles/")

    assert response.status_code == 200
    assert [r["role"]["slug"] for r in response.data] == ["sales"]
    assert list(response.data[0]) == USER_ROLE_KEYS
    assert response.data[0]["role"]["permission_count"] == 17
    assert inactive.pk not in [r["id"] for r in response.data]
    assert elsewhere.user.pk not in [r["user"] for r in response.data]


def test_my_roles_is_empty_without_roles(no_role):
    response = no_role.client.get(f"{USER_ROLES}my_roles/")

    assert response.status_code == 200
    assert response.data == []


def test_my_roles_query_count_is_constant(outsider):
    organization = OrganizationFactory(name="Roles Inc")
    MembershipFactory(user=outsider.user, organization=organization)
    grants = [perm(organization, "customers", "view")]

    def assign(count: int) -> None:
        for _ in range(count):
            number = Role.objects.count()
            custom = role_create(
                actor=None,
                organization=organization,
                name=f"R{number}",
                permissions=grants,
                access=None,
            )
            UserRole.objects.create(user=outsider.user, organization=organization, role=custom)

    assign(1)
    few, response = measure(outsider.client, f"{USER_ROLES}my_roles/")
    assert len(response.data) == 1
    assign(49)

    many, response = measure(outsider.client, f"{USER_ROLES}my_roles/")

    assert len(response.data) == 50
    assert response.data[-1]["role"]["permission_count"] == 1
    assert many == few


# === the obvious effect of grants ============================================================


def test_a_custom_role_grants_exactly_its_permissions(admin, no_role):
    auditor = admin.client.post(
        ROLES,
        {"name": "Auditor", "permission_ids": [perm(admin.organization, "roles", "view").pk]},
        format="json",
    )
    assert auditor.status_code == 201
    assigned = admin.client.post(
        USER_ROLES, {"user": no_role.user.pk, "role_id": auditor.data["id"]}, format="json"
    )
    assert assigned.status_code == 201

    roles = no_role.client.get(ROLES)
    permissions = no_role.client.get(PERMISSIONS)
    create = no_role.client.post(ROLES, {"name": "Escalate"}, format="json")

    assert roles.status_code == 200
    assert roles.data["count"] == 5
    assert permissions.status_code == 403
    assert create.status_code == 403
    assert not Role.objects.filter(name="Escalate").exists()


def test_a_client_created_permission_takes_effect(owner, no_role):
    perm(owner.organization, "users", "view").delete()
    perm(owner.organization, "permissions", "view").delete()
    created = owner.client.post(
        PERMISSIONS, {"resource": "permissions", "action": "view"}, format="json"
    )
    assert created.status_code == 201
    reader = owner.client.post(ROLES, {"name": "Permission Reader"}, format="json")
    assert reader.status_code == 201
    granted = owner.client.post(
        detail(ROLES, Role.objects.get(pk=reader.data["id"]), "assign_permission"),
        {"permission_id": created.data["id"]},
        format="json",
    )
    assert granted.status_code == 200
    assert no_role.client.get(PERMISSIONS).status_code == 403

    assigned = owner.client.post(
        USER_ROLES, {"user": no_role.user.pk, "role_id": reader.data["id"]}, format="json"
    )

    assert assigned.status_code == 201
    listing = no_role.client.get(PERMISSIONS, {"page_size": 100})
    assert listing.status_code == 200
    assert listing.data["count"] == len(SYSTEM_PERMISSIONS) - 2 + 1


def test_an_unseeded_vocabulary_pair_can_be_created_and_granted(owner, no_role):
    created = owner.client.post(
        PERMISSIONS, {"resource": "roles", "action": "create"}, format="json"
    )
    assert created.status_code == 201, created.data
    assert created.data["is_system_permission"] is False
    creator = owner.client.post(
        ROLES, {"name": "Role Creator", "permission_ids": [created.data["id"]]}, format="json"
    )
    assert creator.status_code == 201, creator.data
    refused = no_role.client.post(ROLES, {"name": "Before"}, format="json")
    assert refused.status_code == 403
    owner.client.post(
        USER_ROLES, {"user": no_role.user.pk, "role_id": creator.data["id"]}, format="json"
    )
    allowed = no_role.client.post(ROLES, {"name": "After"}, format="json")
    assert allowed.status_code == 201, allowed.data
    assert Role.objects.filter(organization=owner.organization, name="After").exists()
    assert not Role.objects.filter(name="Before").exists()


def test_the_owner_needs_no_role(owner):
    assert not UserRole.objects.filter(user=owner.user).exists()

    for url in (PERMISSIONS, ROLES, USER_ROLES, "/api/user-organizations/"):
        assert owner.client.get(url).status_code == 200


def test_a_deactivated_membership_drops_every_grant(admin):
    row = membership(admin.user, admin.organization)
    row.is_active = False
    row.save()

    assert admin.client.get(ROLES).status_code == 403
    assert UserOrganization.objects.filter(user=admin.user, is_active=True).count() == 0


def test_user_lookups_do_not_leak_strangers(admin):
    stranger = UserFactory()

    response = admin.client.post(
        USER_ROLES,
        {"user": stranger.pk, "role_id": role(admin.organization, "viewer").pk},
        format="json",
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "user": [f'Invalid pk "{stranger.pk}" - object does not exist.']
    }


def test_granting_customers_view_to_a_custom_role_lets_its_holder_list_customers(admin, no_role):
    CustomerFactory(organization=admin.organization, name="Visible Co")
    reader = role_create(
        actor=None, organization=admin.organization, name="Customer Reader", access=None
    )
    assert no_role.client.get("/api/customers/").status_code == 403

    granted = admin.client.post(
        detail(ROLES, reader, "assign_permission"),
        {"permission_id": perm(admin.organization, "customers", "view").pk},
        format="json",
    )
    assigned = admin.client.post(
        USER_ROLES, {"user": no_role.user.pk, "role_id": reader.pk}, format="json"
    )

    assert (granted.status_code, assigned.status_code) == (200, 201)
    listing = no_role.client.get("/api/customers/")
    assert listing.status_code == 200
    assert [c["name"] for c in listing.data["results"]] == ["Visible Co"]
    create = no_role.client.post(
        "/api/customers/", {"name": "Nope", "email": "n@example.com"}, format="json"
    )
    assert create.status_code == 403
    assert not Customer.objects.filter(name="Nope").exists()
