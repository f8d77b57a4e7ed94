"""Tenant isolation, proven by walking every registered API route.

As the owner of organization A (who holds every permission there), each route is called with
organization B's rows: detail routes and detail actions must answer 404 and change nothing;
lists, stats, exports and other reads must not change when B's data changes and must never show
B's marker; creates, updates and actions that take related ids must refuse B's ids (400/404) and
write nothing. A route that is neither probed nor exempted below fails the coverage test.
"""

import pytest

from tests.files_support import PDF, upload
from tests.routes import Route, api_routes
from tests.world import World, build_world, database_snapshot

pytestmark = pytest.mark.django_db

B_MARKER = "zzsecretb"

#: Routes that hold no tenant data, with the reason.
EXEMPT = {
    "GET health": "service health, no tenant data",
    "GET schema": "OpenAPI schema, no tenant data",
    "GET swagger-ui": "static documentation page",
    "GET redoc": "static documentation page",
    "POST login": "anonymous; answers only for the credentials given",
    "POST token-refresh": "anonymous; acts only on the presented token",
    "POST token-refresh-alias": "anonymous; acts only on the presented token",
    "POST logout": "acts only on the caller's own session",
    "POST change-password": "acts only on the caller's own account",
    "POST user-list": "anonymous registration of a new global account",
    "PUT user-me": "the caller's own account",
    "PATCH user-me": "the caller's own account",
    "PUT user-update-profile": "the caller's own account",
    "PATCH user-update-profile": "the caller's own account",
    "POST organization-list": "creates a new organization owned by the caller",
    "POST organization-leave": "acts only on the caller's own membership (probed as a detail)",
    "POST verify-email": "anonymous; acts only on the account of the presented token",
    "POST verify-email-resend": "acts only on the caller's own account",
    "POST password-reset": "anonymous; same answer for every address, mails only its owner",
    "POST password-reset-confirm": "anonymous; acts only on the account of the presented token",
    "POST invitation-accept": "acts only on the invitation of the presented token and the "
    "caller's own account (tests/api/test_invitations.py)",
}

DETAIL_BODIES = {
    "terminate": {"termination_date": "2026-01-01"},
    "convert": {"customer_type": "business"},
    "reorder": {"order": 0},
    "mark_lost": {"lost_reason": "probe"},
}


def _b_id_bodies(a: World, b: World) -> dict[str, dict]:
    """Bodies for detail actions that take ids: B's ids, sent against A's own row."""
    return {
        "convert": {"customer_type": "business", "assigned_to_id": b.employee.pk},
        "move_stage": {"stage_id": b.stage.pk},
        "assign_permission": {"permission_id": b.permission.pk},
        "remove_permission": {"permission_id": b.permission.pk},
        "remove_member": {"user_id": b.member.user.pk},
        "add_member": {"user_id": b.member.user.pk},
    }


def _create_payloads(a: World, b: World) -> dict[str, tuple[dict, dict[str, object]]]:
    """basename -> (a valid create body in A, {field: B's value} to inject one at a time)."""
    org_a, org_b = a.organization.pk, b.organization.pk
    return {
        "customer": (
            {"organization": org_a, "name": "New", "email": "new@example.com"},
            {"organization": org_b, "assigned_to_id": b.employee.pk},
        ),
        "lead": (
            {"organization": org_a, "name": "New", "email": "new@example.com"},
            {"organization": org_b, "assigned_to_id": b.employee.pk},
        ),
        "employee": (
            {
                "organization": org_a,
                "first_name": "New",
                "last_name": "Person",
                "email": "new@example.com",
            },
            {
                "organization": org_b,
                "manager_id": b.manager.pk,
                "user_id": b.member.user.pk,
            },
        ),
        "vendor": (
            {"organization": org_a, "name": "New", "email": "new@example.com"},
            {"organization": org_b},
        ),
        "pipeline": ({"organization": org_a, "name": "New"}, {"organization": org_b}),
        "pipeline-stage": ({"pipeline": a.pipeline.pk, "name": "New"}, {"pipeline": b.pipeline.pk}),
        "deal": (
            {
                "organization": org_a,
                "title": "New",
                "customer_id": a.customer.pk,
                "pipeline_id": a.pipeline.pk,
                "stage_id": a.stage.pk,
            },
            {
                "organization": org_b,
                "customer_id": b.customer.pk,
                "pipeline_id": b.pipeline.pk,
                "stage_id": b.stage.pk,
                "assigned_to_id": b.employee.pk,
            },
        ),
        "permission": (
            {"organization": org_a, "resource": "reports", "action": "view"},
            {"organization": org_b},
        ),
        "role": (
            {"organization": org_a, "name": "New role"},
            {"organization": org_b, "permission_ids": [b.permission.pk]},
        ),
        "user-role": (
            {"organization": org_a, "user": a.member.user.pk, "role_id": a.role.pk},
            {"organization": org_b, "role_id": b.role.pk, "user": b.member.user.pk},
        ),
        "user-organization": (
            {"organization_id": org_a, "user_id": b.owner.user.pk},
            {"organization_id": org_b},
        ),
        "webhook": (
            {"organization": org_a, "url": "https://93.184.215.14/hooks/new"},
            {"organization": org_b},
        ),
        "activity": (
            {"organization": org_a, "subject": "New", "customer_id": a.customer.pk},
            {
                "organization": org_b,
                "assignee_id": b.employee.pk,
                "lead_id": b.lead.pk,
                "deal_id": b.deal.pk,
            },
        ),
        "attachment": (
            {"file": upload(PDF, "new.pdf"), "parent_type": "customer", "parent_id": a.customer.pk},
            {"parent_id": b.customer.pk},
        ),
        "import": (
            {"file": upload(b"name,email\nN,n@example.com\n", "new.csv"), "resource": "leads"},
            {"organization": org_b},
        ),
    }


def body_format(body: dict) -> str:
    """Uploads are multipart; every other body is JSON."""
    return "multipart" if any(hasattr(value, "read") for value in body.values()) else "json"


def _update_injections(a: World, b: World) -> dict[str, dict[str, object]]:
    """basename -> {field: B's value} sent in a PATCH of A's own row."""
    return {
        "customer": {"organization": b.organization.pk, "assigned_to_id": b.employee.pk},
        "lead": {"assigned_to_id": b.employee.pk, "organization": b.organization.pk},
        "employee": {
            "organization": b.organization.pk,
            "manager_id": b.manager.pk,
            "user_id": b.member.user.pk,
        },
        "vendor": {"organization": b.organization.pk},
        "pipeline": {"organization": b.organization.pk},
        "pipeline-stage": {"pipeline": b.pipeline.pk},
        "deal": {
            "organization": b.organization.pk,
            "stage_id": b.stage.pk,
            "assigned_to_id": b.employee.pk,
            "customer_id": b.customer.pk,
            "pipeline_id": b.pipeline.pk,
        },
        "permission": {"organization": b.organization.pk},
        "role": {"organization": b.organization.pk},
        "user-role": {"organization": b.organization.pk, "role_id": b.role.pk},
        "user-organization": {"organization_id": b.organization.pk},
        "webhook": {"organization": b.organization.pk},
        "activity": {
            "organization": b.organization.pk,
            "assignee_id": b.employee.pk,
            "customer_id": b.customer.pk,
        },
    }


def classify(route: Route) -> str:
    if route.key in EXEMPT:
        return "exempt"
    if route.detail:
        return "detail"
    if route.method == "GET":
        return "read"
    if route.action == "create":
        return "create"
    if route.action in ("bulk_delete", "bulk_update"):
        return "bulk"
    if route.action == "upsert":
        return "upsert"
    return "unclassified"


ROUTES = api_routes()


@pytest.fixture
def worlds(org, other_org) -> tuple[World, World]:
    return build_world(org, marker="zzworlda"), build_world(other_org, marker=B_MARKER)


def _call(client, route: Route, pk=None, body=None):
    method = getattr(client, route.method.lower())
    if route.method == "GET":
        return method(route.path(pk))
    return method(route.path(pk), body or {}, format="json")


def _content(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def test_every_route_is_probed_or_exempted():
    unclassified = [r.key for r in ROUTES if classify(r) == "unclassified"]
    assert unclassified == []
    assert len(ROUTES) > 100
    assert not set(EXEMPT) - {r.key for r in ROUTES}, "stale exemptions"


@pytest.mark.parametrize("route", [r for r in ROUTES if classify(r) == "detail"], ids=str)
def test_detail_route_answers_404_for_another_organizations_row(route, worlds):
    a, b = worlds
    target = b.object_for(route.basename)
    body = DETAIL_BODIES.get(route.action, {"name": "probe", "title": "probe"})
    before = database_snapshot()
    response = _call(a.owner.client, route, pk=target.pk, body=body)
    assert response.status_code == 404, (route.key, response.status_code, _content(response)[:300])
    assert response.json()["status_code"] == 404
    assert database_snapshot() == before


ID_TAKING_ACTIONS = frozenset(
    {
        "convert",
        "move_stage",
        "assign_permission",
        "remove_permission",
        "remove_member",
        "add_member",
    }
)


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.detail and r.action in ID_TAKING_ACTIONS], ids=str
)
def test_detail_action_refuses_another_organizations_ids(route, worlds):
    a, b = worlds
    body = _b_id_bodies(a, b)[route.action]
    target = a.object_for(route.basename)
    before = database_snapshot()
    response = _call(a.owner.client, route, pk=target.pk, body=body)
    if route.action == "add_member":
        # B's member shares no organization with A's owner: exactly the answer for a missing id
        assert response.status_code == 400, response.data
        assert response.data["details"] == {
            "user_id": [f'Invalid pk "{b.member.user.pk}" - object does not exist.']
        }
        assert database_snapshot() == before
        return
    # remove_permission is an idempotent no-op for any id it does not find, foreign or missing
    accepted = (200, 400, 404) if route.action == "remove_permission" else (400, 404)
    assert response.status_code in accepted, (route.key, _content(response)[:300])
    assert database_snapshot() == before


@pytest.mark.parametrize("route", [r for r in ROUTES if classify(r) == "read"], ids=str)
def test_reads_do_not_depend_on_another_organizations_data(route, worlds, other_org):
    a, b = worlds
    first = _call(a.owner.client, route)
    assert first.status_code == 200, (route.key, _content(first)[:300])
    first_body = _content(first)
    assert B_MARKER.encode() not in first_body
    build_world(other_org, marker=B_MARKER + "more", owner=b.owner)
    second = _call(a.owner.client, route)
    assert _content(second) == first_body


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if classify(r) == "read" and r.action == "list"], ids=str
)
def test_lists_narrowed_to_another_organization_are_empty(route, worlds):
    a, b = worlds
    response = a.owner.client.get(route.path(), {"organization": b.organization.pk})
    assert response.status_code in (200, 400), route.key
    if response.status_code == 200:
        assert response.data["results"] == [] or route.basename in ("user", "refresh-token")
        assert B_MARKER.encode() not in response.content


@pytest.mark.parametrize("route", [r for r in ROUTES if classify(r) == "create"], ids=str)
def test_create_refuses_another_organization_and_its_ids(route, worlds):
    a, b = worlds
    payloads = _create_payloads(a, b)
    assert route.basename in payloads, f"no create probe for {route.basename}"
    base, injections = payloads[route.basename]
    for field, value in injections.items():
        before = database_snapshot()
        body = {**base, field: value}
        response = a.owner.client.post(route.path(), body, format=body_format(body))
        assert response.status_code in (400, 403, 404), (route.key, field, response.data)
        if response.status_code == 400:
            assert field in response.data["details"], (route.key, field, response.data)
        assert database_snapshot() == before, (route.key, field)


def _points_into(obj, organization_id: int) -> list[str]:
    """Names of `obj`'s foreign keys (and its own tenant key) that lead into `organization_id`."""
    leaks = []
    if getattr(obj, "organization_id", None) == organization_id:
        leaks.append("organization")
    for field in obj._meta.concrete_fields:
        if not field.is_relation or field.name == "organization":
            continue
        related = getattr(obj, field.name)
        if related is not None and getattr(related, "organization_id", None) == organization_id:
            leaks.append(field.name)
    return leaks


@pytest.mark.parametrize(
    "route",
    [r for r in ROUTES if r.detail and r.method in ("PUT", "PATCH") and r.basename != "user"],
    ids=str,
)
def test_update_refuses_another_organizations_ids(route, worlds):
    a, b = worlds
    injections = _update_injections(a, b).get(route.basename)
    if injections is None:
        pytest.skip(f"{route.basename} has no related fields")
    target = a.object_for(route.basename)
    for field, value in injections.items():
        before = database_snapshot()
        response = _call(a.owner.client, route, pk=target.pk, body={field: value})
        assert response.status_code in (200, 400, 403, 404), (route.key, field, response.data)
        if response.status_code != 200:
            assert database_snapshot() == before, (route.key, field)
        target.refresh_from_db()
        assert _points_into(target, b.organization.pk) == [], (route.key, field)


@pytest.mark.parametrize("route", [r for r in ROUTES if classify(r) == "bulk"], ids=str)
def test_bulk_actions_refuse_another_organizations_ids(route, worlds):
    a, b = worlds
    target = b.object_for(route.basename)
    body = {"ids": [target.pk]}
    if route.action == "bulk_update":
        body["data"] = {"tags": ["probe"]}
    before = database_snapshot()
    response = a.owner.client.post(route.path(), body, format="json")
    assert response.status_code in (400, 404), (route.key, response.data)
    assert database_snapshot() == before


@pytest.mark.parametrize("route", [r for r in ROUTES if classify(r) == "upsert"], ids=str)
def test_upsert_by_external_id_never_reaches_another_organization(route, worlds):
    a, b = worlds
    payloads = _create_payloads(a, b)
    base, injections = payloads[route.basename]
    theirs = b.object_for(route.basename)
    b_rows = database_snapshot()[type(theirs)._meta.label]
    path = route.path(external_id=theirs.external_id)

    response = a.owner.client.put(path, base, format="json")

    assert response.status_code == 201, (route.key, response.data)
    created = type(theirs).objects.get(pk=response.data["id"])
    assert (created.organization_id, created.external_id) == (
        a.organization.pk,
        theirs.external_id,
    )
    after = [
        row for row in database_snapshot()[type(theirs)._meta.label] if row["id"] != created.pk
    ]
    assert after == b_rows
    for field, value in injections.items():
        before = database_snapshot()
        response = a.owner.client.put(
            route.path(external_id="ext-new"), {**base, field: value}, format="json"
        )
        assert response.status_code in (400, 403, 404), (route.key, field, response.data)
        assert database_snapshot() == before, (route.key, field)
