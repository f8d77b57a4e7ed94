"""Attacks from the security review, each reproduced over HTTP and shown to fail.

Every refusal asserts its exact status and that the database did not change.
"""

import json
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils.cache import patch_cache_control
from rest_framework.test import APIClient

from crmApp.models import Employee, Permission, Role, RolePermission, UserOrganization, UserRole
from crmApp.parsers import MAX_JSON_DEPTH, NUL_CHARACTER, TOO_DEEP
from crmApp.serializers.base import represent
from crmApp.serializers.employees import EmployeeSerializer
from crmApp.services.employees import ALREADY_TERMINATED
from crmApp.services.organizations import LAST_OWNER, OWNER_MEMBERSHIP, TOO_MANY_ORGANIZATIONS
from crmApp.services.rbac import GRANTS_NEED_MANAGE, NOT_HELD, role_create
from crmApp.throttling import AuthRateThrottle
from tests.conftest import Member, authenticated_client, make_member
from tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    MembershipFactory,
    OrganizationFactory,
)
from tests.routes import api_routes
from tests.world import build_world, database_snapshot

pytestmark = pytest.mark.django_db

ROLES = "/api/roles/"
USER_ROLES = "/api/user-roles/"
PERMISSIONS = "/api/permissions/"
EMPLOYEES = "/api/employees/"
COMPENSATION = {"salary", "commission_rate"}


def perm(organization, resource: str, action: str) -> Permission:
    return Permission.objects.get_or_create(
        organization=organization, resource=resource, action=action
    )[0]


def member_with(organization, *pairs: tuple[str, str]) -> tuple[Member, Role]:
    """A member holding exactly `pairs`, through a custom role of their own."""
    custom = role_create(
        actor=None,
        organization=organization,
        name="Custom " + " ".join(f"{r}:{a}" for r, a in pairs),
        permissions=[perm(organization, r, a) for r, a in pairs],
        access=None,
    )
    member = make_member(organization)
    UserRole.objects.create(user=member.user, organization=organization, role=custom)
    return member, custom


def grants_of(role: Role) -> set[tuple[str, str]]:
    return {
        (grant.permission.resource, grant.permission.action)
        for grant in RolePermission.objects.filter(role=role).select_related("permission")
    }


# --- 1. RBAC grants ---------------------------------------------------------------------------


def test_roles_update_cannot_change_a_roles_permissions(org):
    attacker, own_role = member_with(org, ("roles", "view"), ("roles", "update"))
    admin_grant = perm(org, "roles", "manage")
    before = database_snapshot()

    response = attacker.client.patch(
        f"{ROLES}{own_role.pk}/", {"permission_ids": [admin_grant.pk]}, format="json"
    )

    assert response.status_code == 403
    assert response.data["error"] == GRANTS_NEED_MANAGE
    assert database_snapshot() == before


def test_roles_update_may_still_rename_a_role(org):
    editor, own_role = member_with(org, ("roles", "view"), ("roles", "update"))

    response = editor.client.patch(f"{ROLES}{own_role.pk}/", {"description": "New"}, format="json")

    assert response.status_code == 200
    assert Role.objects.get(pk=own_role.pk).description == "New"


def test_roles_create_cannot_grant_without_roles_manage(org):
    attacker, _ = member_with(org, ("roles", "view"), ("roles", "create"))
    before = database_snapshot()

    response = attacker.client.post(
        ROLES,
        {"organization": org.pk, "name": "Mine", "permission_ids": [perm(org, "roles", "view").pk]},
        format="json",
    )

    assert response.status_code == 403
    assert response.data["error"] == GRANTS_NEED_MANAGE
    assert database_snapshot() == before


def test_roles_manage_cannot_grant_a_permission_it_does_not_hold(org):
    attacker, own_role = member_with(org, ("roles", "view"), ("roles", "manage"))
    target = perm(org, "organizations", "manage")
    before = database_snapshot()

    assigned = attacker.client.post(
        f"{ROLES}{own_role.pk}/assign_permission/", {"permission_id": target.pk}, format="json"
    )
    replaced = attacker.client.patch(
        f"{ROLES}{own_role.pk}/",
        {"permission_ids": [perm(org, "roles", "manage").pk, target.pk]},
        format="json",
    )

    assert assigned.status_code == 403
    assert assigned.data["error"] == NOT_HELD.format(pairs="organizations:manage")
    assert replaced.status_code == 403
    assert replaced.data["error"] == NOT_HELD.format(pairs="organizations:manage")
    assert database_snapshot() == before
    assert grants_of(own_role) == {("roles", "view"), ("roles", "manage")}


def test_roles_manage_cannot_assign_a_role_carrying_permissions_it_does_not_hold(org):
    attacker, _ = member_with(org, ("roles", "view"), ("roles", "manage"))
    admin_role = Role.objects.get(organization=org, slug="admin")
    before = database_snapshot()

    response = attacker.client.post(
        USER_ROLES,
        {"organization": org.pk, "user": attacker.user.pk, "role_id": admin_role.pk},
        format="json",
    )

    assert response.status_code == 403
    assert response.data["error"].startswith("You cannot grant permissions you do not hold: ")
    assert database_snapshot() == before


def test_roles_manage_grants_what_it_holds(org):
    granter, _ = member_with(org, ("roles", "view"), ("roles", "manage"), ("customers", "view"))
    target = role_create(actor=None, organization=org, name="Readers", access=None)
    held = perm(org, "customers", "view")

    response = granter.client.post(
        f"{ROLES}{target.pk}/assign_permission/", {"permission_id": held.pk}, format="json"
    )

    assert response.status_code == 200
    assert grants_of(target) == {("customers", "view")}


def test_manage_implies_every_action_of_its_resource_when_granting(org):
    granter, _ = member_with(org, ("roles", "view"), ("roles", "manage"), ("deals", "manage"))
    target = role_create(actor=None, organization=org, name="Deal desk", access=None)
    wanted = [perm(org, "deals", "view").pk, perm(org, "deals", "delete").pk]

    response = granter.client.patch(
        f"{ROLES}{target.pk}/", {"permission_ids": wanted}, format="json"
    )

    assert response.status_code == 200
    assert grants_of(target) == {("deals", "view"), ("deals", "delete")}


def test_the_owner_grants_anything(org, owner):
    target = role_create(actor=None, organization=org, name="Everything", access=None)
    wanted = [perm(org, "organizations", "manage").pk, perm(org, "settings", "update").pk]

    response = owner.client.patch(f"{ROLES}{target.pk}/", {"permission_ids": wanted}, format="json")

    assert response.status_code == 200
    assert grants_of(target) == {("organizations", "manage"), ("settings", "update")}


def test_renaming_a_held_permission_into_a_powerful_one_is_refused(org):
    harmless = perm(org, "settings", "view")
    attacker, _ = member_with(org, ("permissions", "view"), ("permissions", "update"))
    RolePermission.objects.create(
        role=UserRole.objects.get(user=attacker.user).role, permission=harmless
    )
    Permission.objects.filter(organization=org, resource="roles", action="manage").delete()
    before = database_snapshot()

    response = attacker.client.patch(
        f"{PERMISSIONS}{harmless.pk}/", {"resource": "roles", "action": "manage"}, format="json"
    )

    assert response.status_code == 400
    assert response.data["details"] == {
        "resource": ["The resource of a permission cannot be changed after it is created."],
        "action": ["The action of a permission cannot be changed after it is created."],
    }
    assert database_snapshot() == before


# --- 2. Field-level visibility of compensation ---------------------------------------------------


@pytest.fixture
def paid(org) -> Employee:
    boss = EmployeeFactory(organization=org, salary=Decimal("150000.00"))
    return EmployeeFactory(
        organization=org,
        salary=Decimal("90000.00"),
        commission_rate=Decimal("5.00"),
        manager=boss,
    )


def test_employee_detail_shows_compensation_only_to_who_may_update_employees(
    paid, owner, admin, manager, sales, viewer
):
    for caller in (owner, admin, manager):
        data = caller.client.get(f"{EMPLOYEES}{paid.pk}/").data
        assert (data["salary"], data["commission_rate"]) == ("90000.00", "5.00")
    for caller in (sales, viewer):
        response = caller.client.get(f"{EMPLOYEES}{paid.pk}/")
        assert response.status_code == 200
        assert COMPENSATION & response.data.keys() == set()


def test_employee_list_never_carries_compensation(paid, owner, viewer):
    for caller in (owner, viewer):
        results = caller.client.get(EMPLOYEES).data["results"]
        assert len(results) == 2
        assert all(COMPENSATION & row.keys() == set() for row in results)


def test_compensation_follows_the_callers_right_in_the_employees_own_organization(paid, org):
    # Updating employees elsewhere does not open this organization's salaries.
    elsewhere = OrganizationFactory()
    caller, _ = member_with(org, ("employees", "view"))
    MembershipFactory(user=caller.user, organization=elsewhere, is_owner=True)

    response = caller.client.get(f"{EMPLOYEES}{paid.pk}/")

    assert response.status_code == 200
    assert COMPENSATION & response.data.keys() == set()


def test_create_and_update_answers_show_compensation_only_to_who_may_see_it(org, owner, manager):
    # A custom role that may create employees but not update them sees no compensation.
    creator, _ = member_with(org, ("employees", "view"), ("employees", "create"))
    body = {"organization": org.pk, "first_name": "A", "last_name": "B", "email": "ab@ex.com"}

    hidden = creator.client.post(EMPLOYEES, {**body, "salary": "1.00"}, format="json")
    shown = manager.client.post(
        EMPLOYEES, {**body, "email": "cd@ex.com", "salary": "2.00"}, format="json"
    )
    updated = manager.client.patch(
        f"{EMPLOYEES}{shown.data['id']}/", {"salary": "3.00"}, format="json"
    )

    assert hidden.status_code == 201
    assert COMPENSATION & hidden.data.keys() == set()
    assert Employee.objects.get(pk=hidden.data["id"]).salary == Decimal("1.00")
    assert (shown.status_code, shown.data["salary"]) == (201, "2.00")
    assert (updated.status_code, updated.data["salary"]) == (200, "3.00")


def test_terminate_answer_shows_compensation_only_to_who_may_see_it(paid, org, manager):
    terminator, _ = member_with(org, ("employees", "view"), ("employees", "update"))
    other = EmployeeFactory(organization=org, salary=Decimal("1.00"))

    shown = manager.client.post(f"{EMPLOYEES}{paid.pk}/terminate/", {}, format="json")
    also_shown = terminator.client.post(f"{EMPLOYEES}{other.pk}/terminate/", {}, format="json")

    assert shown.status_code == 200
    assert shown.data["employee"]["salary"] == "90000.00"
    assert also_shown.data["employee"]["salary"] == "1.00"


def _all_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for item in value.values() for k in _all_keys(item)}
    if isinstance(value, list):
        return {k for item in value for k in _all_keys(item)}
    return set()


def test_nested_employees_never_carry_compensation(paid, org, owner, viewer):
    customer = CustomerFactory(organization=org, assigned_to=paid)
    lead = LeadFactory(organization=org, assigned_to=paid)
    deal = DealFactory(organization=org, customer=customer, assigned_to=paid)
    for caller in (owner, viewer):
        nested = [
            caller.client.get(f"{EMPLOYEES}{paid.pk}/").data["manager"],
            caller.client.get(f"/api/customers/{customer.pk}/").data["assigned_to"],
            caller.client.get(f"/api/leads/{lead.pk}/").data["assigned_to"],
            caller.client.get(f"/api/deals/{deal.pk}/").data["assigned_to"],
        ]
        # Lists (fast rows included) name the assignee; nothing below them may carry pay.
        lists = [caller.client.get(f"/api/{name}/").json() for name in ("customers", "leads")]
        lists.append(caller.client.get("/api/deals/").json())

        assert [item["id"] for item in nested] == [paid.manager_id, paid.pk, paid.pk, paid.pk]
        assert [COMPENSATION & _all_keys(item) for item in nested] == [set()] * 4
        assert [len(answer["results"]) for answer in lists] == [1, 1, 1]
        assert [COMPENSATION & _all_keys(answer) for answer in lists] == [set()] * 3


def test_one_thread_serving_a_privileged_then_an_unprivileged_caller_never_leaks(
    paid, owner, viewer
):
    # The test client runs each request in this thread, so every answer below is rendered by the
    # same shared serializer (`represent()`), in alternating order.
    order = [owner, viewer, viewer, owner, viewer]
    seen = [o.client.get(f"{EMPLOYEES}{paid.pk}/").data.keys() >= COMPENSATION for o in order]

    assert seen == [True, False, False, True, False]


def test_the_shared_serializer_reads_each_calls_own_caller(paid, owner, viewer):
    def context_of(member: Member) -> dict:
        request = APIClient().get("/").wsgi_request  # any request object; the user decides
        request.user = member.user
        return {"request": request}

    viewer_first = represent(EmployeeSerializer, paid, context=context_of(viewer))
    owner_next = represent(EmployeeSerializer, paid, context=context_of(owner))
    viewer_again = represent(EmployeeSerializer, paid, context=context_of(viewer))
    no_request = represent(EmployeeSerializer, paid, context={})

    assert COMPENSATION & viewer_first.keys() == set()
    assert (owner_next["salary"], owner_next["commission_rate"]) == ("90000.00", "5.00")
    assert COMPENSATION & viewer_again.keys() == set()
    assert COMPENSATION & no_request.keys() == set()


# --- 3. Limits --------------------------------------------------------------------------------


@override_settings(MAX_ORGANIZATIONS_PER_USER=3)
def test_organizations_per_user_are_capped(owner):
    # `owner` is already an active member of one organization; joined ones count too.
    MembershipFactory(user=owner.user, organization=OrganizationFactory())
    first = owner.client.post("/api/organizations/", {"name": "Third"}, format="json")
    before = database_snapshot()

    refused = owner.client.post("/api/organizations/", {"name": "Fourth"}, format="json")

    assert first.status_code == 201
    assert refused.status_code == 400
    assert refused.data["details"] == {"non_field_errors": [TOO_MANY_ORGANIZATIONS.format(limit=3)]}
    assert database_snapshot() == before


@override_settings(MAX_ORGANIZATIONS_PER_USER=3)
def test_leaving_an_organization_frees_a_place(owner):
    joined = MembershipFactory(user=owner.user, organization=OrganizationFactory())
    owner.client.post("/api/organizations/", {"name": "Third"}, format="json")
    UserOrganization.objects.filter(pk=joined.pk).update(is_active=False)

    response = owner.client.post("/api/organizations/", {"name": "Fourth"}, format="json")

    assert response.status_code == 201


def test_organization_creation_is_throttled_per_user(owner, monkeypatch):
    rates = {**AuthRateThrottle.THROTTLE_RATES, "organization_create": "2/hour"}
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", rates)
    other, _, _ = authenticated_client(make_member(OrganizationFactory()).user)

    codes = [
        owner.client.post("/api/organizations/", {"name": f"N{n}"}, format="json").status_code
        for n in range(3)
    ]
    before = database_snapshot()
    blocked = owner.client.post("/api/organizations/", {"name": "N3"}, format="json")
    someone_else = other.post("/api/organizations/", {"name": "Theirs"}, format="json")

    assert codes == [201, 201, 429]
    assert blocked.status_code == 429
    assert blocked.data["status_code"] == 429
    assert someone_else.status_code == 201
    snapshot = database_snapshot()
    assert (
        snapshot["crmApp.Organization"][: len(before["crmApp.Organization"])]
        == (before["crmApp.Organization"])
    )
    assert owner.client.get("/api/organizations/").status_code == 200  # reads stay open


def test_health_is_throttled_per_client_address(api_client, monkeypatch):
    rates = {**AuthRateThrottle.THROTTLE_RATES, "health": "3/min"}
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", rates)

    codes = [api_client.get("/api/health/").status_code for _ in range(4)]
    elsewhere = api_client.get("/api/health/", REMOTE_ADDR="10.9.8.7")

    assert codes == [200, 200, 200, 429]
    assert elsewhere.status_code == 200


# --- 4. Hostile input -------------------------------------------------------------------------


def test_deeply_nested_json_is_a_400(owner, org):
    before = database_snapshot()
    body = "[" * 1000 + "]" * 1000  # a 2 KB body

    response = owner.client.post("/api/customers/", body, content_type="application/json")

    assert len(body) == 2000
    assert response.status_code == 400
    assert response.json() == {
        "error": TOO_DEEP,
        "details": {"detail": TOO_DEEP},
        "status_code": 400,
    }
    assert database_snapshot() == before


def test_nesting_is_counted_inside_objects_too(owner, org):
    settings_value: dict = {}
    for _ in range(MAX_JSON_DEPTH):
        settings_value = {"k": settings_value}
    before = database_snapshot()

    response = owner.client.patch(
        f"/api/organizations/{org.pk}/", {"settings": settings_value}, format="json"
    )

    assert response.status_code == 400
    assert response.data["error"] == TOO_DEEP
    assert database_snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {"settings": {"note": "a\u0000b"}},
        {"settings": {"a\u0000b": "note"}},
        {"settings": {"list": ["ok", ["a\u0000"]]}},
        {"name": "Acme\u0000"},
    ],
    ids=["value", "key", "nested-list", "plain-field"],
)
def test_nul_characters_in_json_are_a_400(owner, org, body):
    before = database_snapshot()

    response = owner.client.patch(
        f"/api/organizations/{org.pk}/", json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": NUL_CHARACTER,
        "details": {"detail": NUL_CHARACTER},
        "status_code": 400,
    }
    assert database_snapshot() == before


def test_reasonable_json_still_parses(owner, org):
    settings_value: dict = {"theme": "dark"}
    for _ in range(MAX_JSON_DEPTH - 2):
        settings_value = {"k": settings_value}

    response = owner.client.patch(
        f"/api/organizations/{org.pk}/", {"settings": settings_value}, format="json"
    )

    assert response.status_code == 200


def test_options_answers_on_every_route(org, owner):
    world = build_world(org, marker="options", owner=owner)
    owner.client.raise_request_exception = False
    paths = set()
    for route in api_routes():
        row = world.object_for(route.basename) if route.detail and route.basename else None
        paths.add(route.path(row.pk if row is not None else (1 if route.detail else None)))
    paths |= {"/api/docs/", "/api/redoc/", "/api/schema/"}

    failures = {path: owner.client.options(path).status_code for path in sorted(paths)}

    assert {path: code for path, code in failures.items() if code >= 500} == {}
    assert failures["/api/users/me/"] == 200
    assert failures["/api/users/update_profile/"] == 200


def _directives(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def test_token_answers_are_not_stored(api_client, owner):
    password = "correct-horse-battery-9"
    owner.user.set_password(password)
    owner.user.save()

    login = api_client.post(
        "/api/auth/login/", {"email": owner.user.email, "password": password}, format="json"
    )
    refresh = api_client.post("/api/auth/refresh/", {"refresh": owner.refresh}, format="json")
    changed = owner.client.post(
        "/api/auth/change-password/",
        {
            "old_password": password,
            "new_password": "another-horse-battery-7",
            "new_password_confirm": "another-horse-battery-7",
        },
        format="json",
    )

    assert (login.status_code, _directives(login)) == (200, {"no-store"})
    assert (refresh.status_code, _directives(refresh)) == (200, {"no-store"})
    assert (changed.status_code, _directives(changed)) == (200, {"no-store", "private"})


def test_authenticated_answers_are_private(owner, api_client):
    ok = owner.client.get("/api/organizations/")
    refused = owner.client.get("/api/customers/999999999/")
    anonymous = api_client.get("/api/organizations/")

    assert (ok.status_code, _directives(ok)) == (200, {"private"})
    assert (refused.status_code, _directives(refused)) == (404, {"private"})
    assert anonymous.status_code == 401
    assert "private" not in _directives(anonymous)


def test_private_replaces_a_public_directive():
    # The middleware merges through Django's helper, which keeps private and public exclusive.
    from django.http import HttpResponse

    response = HttpResponse()
    response["Cache-Control"] = "public, max-age=60"
    patch_cache_control(response, private=True)

    assert _directives(response) == {"private", "max-age=60"}


# --- 5. Terminating an employee can suspend the member's access ---------------------------------


def test_terminate_with_suspend_access_deactivates_the_membership(org, admin):
    leaver = make_member(org, role="sales")
    employee = EmployeeFactory(organization=org, user=leaver.user)

    response = admin.client.post(
        f"{EMPLOYEES}{employee.pk}/terminate/", {"suspend_access": True}, format="json"
    )

    assert response.status_code == 200
    assert response.data["access_suspended"] is True
    assert Employee.objects.get(pk=employee.pk).status == "inactive"
    membership = UserOrganization.objects.get(user=leaver.user, organization=org)
    assert membership.is_active is False
    assert leaver.client.get("/api/customers/").status_code == 403


def test_terminate_without_suspend_access_keeps_the_membership(org, admin):
    stayer = make_member(org, role="sales")
    employee = EmployeeFactory(organization=org, user=stayer.user)

    response = admin.client.post(f"{EMPLOYEES}{employee.pk}/terminate/", {}, format="json")

    assert response.status_code == 200
    assert response.data["access_suspended"] is False
    assert UserOrganization.objects.get(user=stayer.user, organization=org).is_active is True


def test_suspend_access_needs_organizations_manage(org, manager):
    leaver = make_member(org, role="sales")
    employee = EmployeeFactory(organization=org, user=leaver.user)
    before = database_snapshot()

    response = manager.client.post(
        f"{EMPLOYEES}{employee.pk}/terminate/", {"suspend_access": True}, format="json"
    )

    assert response.status_code == 403
    assert database_snapshot() == before


def test_suspend_access_cannot_remove_the_last_owner(org, owner):
    employee = EmployeeFactory(organization=org, user=owner.user)
    before = database_snapshot()

    response = owner.client.post(
        f"{EMPLOYEES}{employee.pk}/terminate/", {"suspend_access": True}, format="json"
    )

    assert response.status_code == 400
    assert response.data["details"] == {"non_field_errors": [LAST_OWNER]}
    assert database_snapshot() == before  # the termination is undone with the refusal


def test_suspend_access_keeps_owner_rules(org, owner, admin):
    employee = EmployeeFactory(organization=org, user=owner.user)
    before = database_snapshot()

    response = admin.client.post(
        f"{EMPLOYEES}{employee.pk}/terminate/", {"suspend_access": True}, format="json"
    )

    assert response.status_code == 403
    assert response.data["error"] == OWNER_MEMBERSHIP
    assert database_snapshot() == before


def test_suspend_access_of_an_employee_without_an_account_only_terminates(org, admin):
    employee = EmployeeFactory(organization=org)

    response = admin.client.post(
        f"{EMPLOYEES}{employee.pk}/terminate/", {"suspend_access": True}, format="json"
    )
    again = admin.client.post(
        f"{EMPLOYEES}{employee.pk}/terminate/", {"suspend_access": True}, format="json"
    )

    assert response.status_code == 200
    assert response.data["access_suspended"] is False
    assert again.status_code == 400
    assert again.data["details"] == {"non_field_errors": [ALREADY_TERMINATED]}
