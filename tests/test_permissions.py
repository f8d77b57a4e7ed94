"""RBAC matrix: every table-governed route × each system role, the owner and a role-less member.

Two sources must agree: `PERMISSION_TABLE` (what the code enforces) and `EXPECTED` below, written
independently from the role descriptions. Each pair is then exercised over HTTP: an allowed call
succeeds, a denied one answers 403 (or 404 where the role cannot even read the row) and leaves
the database unchanged.
"""

from datetime import date

import pytest

from crmApp.models import Deal, Permission, Role, UserOrganization
from crmApp.permissions import PERMISSION_TABLE, SELF_SERVICE, SYSTEM_ROLES, Access, for_parent
from tests.conftest import make_member
from tests.files_support import PDF, upload
from tests.routes import api_routes
from tests.world import World, build_world, database_snapshot

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "manager", "sales", "viewer", "no_role")

CRM_READS = {
    "employee": {"list", "retrieve", "departments"},
    "vendor": {"list", "retrieve", "types"},
    "customer": {"list", "retrieve", "stats", "export_csv", "timeline"},
    "lead": {"list", "retrieve", "stats", "export_csv", "timeline"},
    "deal": {"list", "retrieve", "stats", "export_csv", "stage_history", "rotting", "timeline"},
    "pipeline": {"list", "retrieve"},
    "pipeline-stage": {"list", "retrieve"},
    "activity": {"list", "retrieve", "my_tasks", "stats"},
}
ORGANIZATION_READS = {
    "organization": {"list", "retrieve", "members"},
    "user-organization": {"list", "retrieve"},
}
EVENT_READS = {"event": {"list", "retrieve"}}
WEBHOOK_READS = {
    "webhook": {"list", "retrieve", "deliveries"},
    "webhook-delivery": {"list", "retrieve"},
}
RBAC_READS = {
    "permission": {"list", "retrieve", "by_resource"},
    "role": {"list", "retrieve"},
    "user-role": {"list", "retrieve"},
}
#: Attachments follow their parent record; the world's attachment hangs on a customer.
ATTACHMENT_READS = {"attachment": {"list", "retrieve", "download"}}
ATTACHMENT_WRITES = {"attachment": {"create", "destroy"}}
IMPORTS = {"import": {"list", "retrieve", "errors", "create", "cancel"}}
REPORTS = {
    "report": {"funnel", "time_in_stage", "win_rate", "velocity", "forecast", "lead_sources"}
}
UPDATE = {"update", "partial_update"}
SALES_WRITES = {
    "customer": {"create", *UPDATE, "upsert", "activate", "deactivate", "bulk_update"},
    "lead": {"create", *UPDATE, "upsert", "qualify", "disqualify", "convert", "bulk_update"},
    "deal": {
        "create",
        *UPDATE,
        "upsert",
        "move_stage",
        "mark_won",
        "mark_lost",
        "reopen",
        "bulk_update",
    },
    "activity": {"create", *UPDATE, "complete", "reopen"},
}
MANAGER_WRITES = {
    "customer": SALES_WRITES["customer"] | {"destroy", "bulk_delete"},
    "lead": SALES_WRITES["lead"] | {"destroy", "bulk_delete"},
    "deal": SALES_WRITES["deal"] | {"destroy", "bulk_delete"},
    "activity": SALES_WRITES["activity"] | {"destroy"},
    "employee": {"create", *UPDATE, "destroy", "terminate"},
    "vendor": {"create", *UPDATE, "destroy"},
    "pipeline": {"create", *UPDATE, "destroy", "set_default"},
    "pipeline-stage": {"create", *UPDATE, "destroy", "reorder"},
}


def _merge(*grants: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {
        (basename, action)
        for grant in grants
        for basename, acts in grant.items()
        for action in acts
    }


GOVERNED = {
    (basename, action)
    for basename, actions in PERMISSION_TABLE.items()
    for action, required in actions.items()
    if required != SELF_SERVICE
}

EXPECTED: dict[str, set[tuple[str, str]]] = {
    "owner": set(GOVERNED),
    "admin": set(GOVERNED) - {("organization", "destroy")},
    "manager": _merge(
        CRM_READS,
        REPORTS,
        ORGANIZATION_READS,
        RBAC_READS,
        EVENT_READS,
        WEBHOOK_READS,
        MANAGER_WRITES,
        ATTACHMENT_READS,
        ATTACHMENT_WRITES,
        IMPORTS,
    ),
    "sales": _merge(
        CRM_READS, ORGANIZATION_READS, SALES_WRITES, ATTACHMENT_READS, ATTACHMENT_WRITES
    ),
    "viewer": _merge(CRM_READS, REPORTS, ORGANIZATION_READS, ATTACHMENT_READS),
    "no_role": set(),
}


def _access_for(role: str) -> Access:
    organization_id = 1
    grants = frozenset(SYSTEM_ROLES[role][2]) if role in SYSTEM_ROLES else frozenset()
    return Access(
        user_id=1,
        member_org_ids=frozenset({organization_id}),
        owner_org_ids=frozenset({organization_id}) if role == "owner" else frozenset(),
        active_org_ids=frozenset({organization_id}),
        grants={organization_id: grants},
    )


@pytest.mark.parametrize("role", ROLES)
def test_permission_table_matches_the_independent_expectations(role):
    access = _access_for(role)
    allowed = {
        (basename, action)
        for basename, action in GOVERNED
        if access.has(1, for_parent(PERMISSION_TABLE[basename][action], "customers"))
    }
    assert sorted(allowed - EXPECTED[role]) == [], "granted but not expected"
    assert sorted(EXPECTED[role] - allowed) == [], "expected but not granted"


ROUTES = [r for r in api_routes() if r.basename in PERMISSION_TABLE]


def test_every_routed_action_is_in_the_table():
    missing = sorted(
        {(r.basename, r.action) for r in ROUTES}
        - {(b, a) for b, acts in PERMISSION_TABLE.items() for a in acts}
    )
    assert missing == []


def _user_role_create(world: World) -> tuple[int | None, dict]:
    sales_role = Role.objects.get(organization=world.organization, slug="sales")
    org = world.organization.pk
    return None, {"organization": org, "user": world.member.user.pk, "role_id": sales_role.pk}


def _permission_destroy(world: World) -> tuple[int | None, dict]:
    custom = Permission.objects.create(
        organization=world.organization, resource="settings", action="update"
    )
    return custom.pk, {}


def _role_permission(world: World) -> tuple[int | None, dict]:
    return world.role.pk, {"permission_id": world.permission.pk}


def _membership(world: World) -> tuple[int | None, dict]:
    return world.membership.pk, {}


#: Calls whose row and body are their own, whatever the action's kind.
SPECIAL_CALLS = {
    ("organization", "remove_member"): lambda world: (
        world.organization.pk,
        {"user_id": world.member.user.pk},
    ),
    # Adding by email invites (anyone's address); adding by id needs a shared organization.
    ("organization", "add_member"): lambda world: (
        world.organization.pk,
        {"email": "new.member@example.com"},
    ),
    ("user-organization", "create"): lambda world: (
        None,
        {"organization_id": world.organization.pk, "email": "new.member@example.com"},
    ),
    ("user-role", "create"): _user_role_create,
    ("role", "assign_permission"): _role_permission,
    ("role", "remove_permission"): _role_permission,
    ("pipeline-stage", "reorder"): lambda world: (world.stage.pk, {"order": 1}),
    # the stage holds the world's deal: deleting it names where the deal goes
    ("pipeline-stage", "destroy"): lambda world: (
        world.stage.pk,
        {"move_to": world.other_stage.pk},
    ),
    ("deal", "move_stage"): lambda world: (world.deal.pk, {"stage_id": world.other_stage.pk}),
    ("employee", "terminate"): lambda world: (
        world.employee.pk,
        {"termination_date": date.today().isoformat()},
    ),
    ("permission", "destroy"): _permission_destroy,
    ("role", "destroy"): lambda world: (world.role.pk, {}),
    ("organization", "destroy"): lambda world: (world.organization.pk, {}),
    ("user-organization", "destroy"): _membership,
    ("user-organization", "deactivate"): _membership,
}


def _prepare_world(world: World, basename: str, action: str) -> None:
    """The state a call needs before it can succeed."""
    if basename == "permission":
        # every vocabulary pair is seeded; free the ones these calls create or change
        Permission.objects.filter(
            organization=world.organization,
            resource__in=("settings", "roles"),
            action__in=("view", "update", "create"),
        ).filter(role_permissions__isnull=True).delete()
    if basename == "deal" and action == "reopen":
        Deal.objects.filter(pk=world.deal.pk).update(is_won=True, status="closed")


def _bulk_call(world: World, basename: str, action: str) -> tuple[int | None, dict]:
    row = world.object_for(basename)
    body: dict = {"ids": [row.pk]}
    if action == "bulk_update":
        body["data"] = {"tags": ["vip"]}
    return None, body


def _create_body(world: World, basename: str) -> dict:
    org = world.organization.pk
    creates = {
        "customer": {"organization": org, "name": "N", "email": "n@example.com"},
        "lead": {"organization": org, "name": "N", "email": "n@example.com"},
        "employee": {
            "organization": org,
            "first_name": "N",
            "last_name": "M",
            "email": "n@example.com",
        },
        "vendor": {"organization": org, "name": "N", "email": "n@example.com"},
        "pipeline": {"organization": org, "name": "N"},
        "pipeline-stage": {"pipeline": world.pipeline.pk, "name": "N"},
        "deal": {
            "organization": org,
            "title": "N",
            "customer_id": world.customer.pk,
            "pipeline_id": world.pipeline.pk,
            "stage_id": world.stage.pk,
        },
        "permission": {"organization": org, "resource": "roles", "action": "create"},
        "role": {"organization": org, "name": "Brand new role"},
        "organization": {"name": "N"},
        "webhook": {"organization": org, "url": "https://93.184.215.14/hooks/new"},
        "activity": {"organization": org, "subject": "N", "customer_id": world.customer.pk},
        "attachment": {
            "file": upload(PDF, "new.pdf"),
            "parent_type": "customer",
            "parent_id": world.customer.pk,
        },
        "import": {
            "file": upload(b"name,email\nN,n@example.com\n", "new.csv"),
            "resource": "leads",
            "organization": org,
        },
    }
    return creates[basename]


def _update_call(world: World, basename: str, action: str) -> tuple[int | None, dict]:
    org = world.organization.pk
    if basename == "permission":
        custom = Permission.objects.create(
            organization=world.organization, resource="settings", action="view"
        )
        body = {"organization": org, "resource": "settings", "action": "view"}
        return custom.pk, body if action == "update" else {"description": "Renamed"}
    row = world.object_for(basename)
    if action != "update":
        updates = {
            "customer": {"name": "Renamed"},
            "lead": {"name": "Renamed"},
            "employee": {"first_name": "Renamed"},
            "vendor": {"name": "Renamed"},
            "pipeline": {"name": "Renamed"},
            "pipeline-stage": {"name": "Renamed"},
            "deal": {"title": "Renamed"},
            "role": {"description": "Renamed"},
            "user-role": {"is_active": True},
            "user-organization": {"is_active": True},
            "organization": {"description": "Renamed"},
            "webhook": {"description": "Renamed"},
            "activity": {"subject": "Renamed"},
        }
        return row.pk, dict(updates[basename])
    put_required = {
        "customer": {"name": "Renamed", "email": "r@example.com", "organization": org},
        "lead": {"name": "Renamed", "email": "r@example.com"},
        "employee": {
            "first_name": "R",
            "last_name": "S",
            "email": "r@example.com",
            "organization": org,
        },
        "vendor": {"name": "Renamed", "email": "r@example.com", "organization": org},
        "pipeline": {"name": "Renamed", "organization": org},
        "pipeline-stage": {"name": "Renamed", "pipeline": world.pipeline.pk},
        "deal": {"title": "Renamed"},
        "role": {"organization": org, "name": world.role.name},
        "user-role": {
            "organization": org,
            "user": world.member.user.pk,
            "role_id": world.role.pk,
        },
        "user-organization": {"is_active": True, "is_owner": False},
        "organization": {"name": "Renamed"},
        "webhook": {"organization": org, "url": "https://93.184.215.14/hooks/renamed"},
        "activity": {"subject": "Renamed", "customer_id": world.customer.pk},
    }
    return row.pk, put_required[basename]


def _prepare(world: World, basename: str, action: str) -> tuple[int | None, dict]:
    """(row id or None, body) for a call that succeeds when the caller is allowed."""
    _prepare_world(world, basename, action)
    special = SPECIAL_CALLS.get((basename, action))
    if special is not None:
        return special(world)
    if action in ("bulk_update", "bulk_delete"):
        return _bulk_call(world, basename, action)
    if action in ("create", "upsert"):
        return None, _create_body(world, basename)
    if action in UPDATE:
        return _update_call(world, basename, action)
    row = world.object_for(basename)
    return (row.pk if row is not None else None), {}


def _member_for(role: str, world: World):
    if role == "owner":
        return world.owner
    return make_member(world.organization, role=None if role == "no_role" else role)


CASES = [
    (route, role)
    for route in ROUTES
    for role in ROLES
    if (route.basename, route.action) in GOVERNED
]


@pytest.mark.parametrize("route,role", CASES, ids=lambda v: v if isinstance(v, str) else str(v))
def test_route_enforces_role(route, role, org):
    world = build_world(org, marker="matrix")
    caller = _member_for(role, world)
    pk, body = _prepare(world, route.basename, route.action)
    if route.detail:
        assert pk is not None
    allowed = (route.basename, route.action) in EXPECTED[role]
    before = database_snapshot() if route.method != "GET" else None
    method = getattr(caller.client, route.method.lower())
    path = route.path(pk if route.detail else None)
    uploads = any(hasattr(value, "read") for value in body.values())
    response = (
        method(path)
        if route.method == "GET"
        else method(path, body, format="multipart" if uploads else "json")
    )
    if allowed:
        assert response.status_code < 400, (
            route.key,
            role,
            response.status_code,
            getattr(response, "data", None),
        )
    else:
        assert response.status_code in (403, 404), (route.key, role, response.status_code)
        if before is not None:
            assert database_snapshot() == before
        assert UserOrganization.objects.filter(organization=org, is_owner=True).exists()
