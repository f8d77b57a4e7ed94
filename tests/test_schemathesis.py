"""Schema-driven fuzzing: every operation of `/api/schema/`, in-process against the WSGI app.

Schemathesis loads the schema from the app itself and, for each operation, generates requests
from it (valid ones and, in negative mode, invalid ones), sends them through the real Django
WSGI handler with the owner of a seeded organization's access token, and checks that the
answer is never a 5xx, that its status code and content type are documented and that its body
conforms to the documented schema.

How the data stays meaningful and intact:

- the seeded organization has one record of every resource; half of the generated cases get a
  seeded id in the path, the body's id fields and the `X-Organization-ID` header, so updates,
  actions and deletes reach real rows instead of only answering 404; likewise the auth bodies
  get the real password or refresh token, so login, refresh, logout, change-password and
  registration succeed too;
- every example runs inside a savepoint that is rolled back afterwards, so destructive
  operations (deletes, organization delete, logout, change-password, leave) never change what
  the next example sees, and the cache (throttle and failed-login counters) is cleared first.

Examples per operation: `FUZZ_EXAMPLES` (default 8, derandomized, so CI is reproducible);
`make fuzz` runs a larger number with fresh random inputs.
"""

import os
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crmAdmin.wsgi import application
from crmApp.models import Invitation, Permission, Role, UserRole, UserSession
from tests.conftest import Member, make_member
from tests.factories import (
    DEFAULT_PASSWORD,
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    MembershipFactory,
    OrganizationFactory,
    PipelineStageFactory,
    UserFactory,
    VendorFactory,
)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
#: `FUZZ_RANDOM=1` (as `make fuzz` sets) explores new inputs on every run; pytest prints the
#: Hypothesis seed of a failure so it can be replayed with `--hypothesis-seed`.
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM", "") not in ("", "0")
NEW_PASSWORD = "An0ther-Sturdy-Passw0rd!"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class World:
    """The seeded organization: its owner and one id per resource (path and body keys)."""

    owner: Member
    organization_id: int
    path_ids: dict[str, int] = field(default_factory=dict)
    body_ids: dict[str, object] = field(default_factory=dict)
    #: Per operation, body values that pass validation (passwords, tokens, a non-member user).
    bodies: dict[tuple[str, str], dict] = field(default_factory=dict)

    def path_id(self, path: str) -> int | None:
        resource = path.removeprefix("/api/").split("/{id}")[0]
        return self.path_ids.get(resource)


def seed_world() -> World:
    organization = OrganizationFactory(name="Fuzz Org")
    owner = make_member(organization, owner=True)
    make_member(organization, owner=True)  # so that the owner may leave
    colleague = make_member(organization, role="sales")
    # Verified, not a member yet, and a colleague from another organization: addable by id.
    stranger = UserFactory()
    shared = OrganizationFactory(name="Shared Org")
    MembershipFactory(user=owner.user, organization=shared)
    MembershipFactory(user=stranger, organization=shared)
    invitation = Invitation.objects.create(
        organization=organization,
        email="invitee@example.com",
        invited_by=owner.user,
        expires_at=timezone.now() + timedelta(days=7),
    )
    manager = EmployeeFactory(organization=organization)
    employee = EmployeeFactory(organization=organization, manager=manager)
    vendor = VendorFactory(organization=organization)
    customer = CustomerFactory(organization=organization, assigned_to=employee)
    lead = LeadFactory(organization=organization, assigned_to=employee)
    deal = DealFactory(organization=organization, customer=customer, assigned_to=employee)
    second_stage = PipelineStageFactory(pipeline=deal.pipeline, order=1, probability=50)
    role = Role.objects.create(organization=organization, name="Fuzz role", slug="fuzz-role")
    # Every vocabulary pair exists as a (read-only) system permission; free one for edits.
    permission = Permission.objects.filter(organization=organization).latest("id")
    Permission.objects.filter(pk=permission.pk).update(is_system_permission=False)
    user_role = UserRole.objects.get(user=colleague.user, organization=organization)
    session = UserSession.objects.filter(user=owner.user).latest("id")

    # Another tenant with its own rows: ids that exist but must never be reachable.
    other = OrganizationFactory(name="Other Org")
    make_member(other, owner=True)
    DealFactory(organization=other)

    membership = colleague.user.user_organizations.get(organization=organization)
    return World(
        owner=owner,
        organization_id=organization.pk,
        path_ids={
            "users": colleague.user.pk,
            "auth/refresh-tokens": session.pk,
            "organizations": organization.pk,
            "user-organizations": membership.pk,
            "invitations": invitation.pk,
            "permissions": permission.pk,
            "roles": role.pk,
            "user-roles": user_role.pk,
            "employees": employee.pk,
            "vendors": vendor.pk,
            "customers": customer.pk,
            "leads": lead.pk,
            "pipelines": deal.pipeline_id,
            "pipeline-stages": second_stage.pk,
            "deals": deal.pk,
        },
        body_ids={
            "organization": organization.pk,
            "organization_id": organization.pk,
            "customer_id": customer.pk,
            "pipeline_id": deal.pipeline_id,
            "pipeline": deal.pipeline_id,
            "stage_id": second_stage.pk,
            "assigned_to_id": employee.pk,
            "manager_id": manager.pk,
            "user_id": colleague.user.pk,
            "user": colleague.user.pk,
            "role_id": role.pk,
            "permission_id": permission.pk,
            "permission_ids": [permission.pk],
        },
        bodies={
            ("POST", "/api/auth/login/"): {"email": owner.user.email, "password": DEFAULT_PASSWORD},
            ("POST", "/api/auth/change-password/"): {
                "old_password": DEFAULT_PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_confirm": NEW_PASSWORD,
            },
            ("POST", "/api/users/"): {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
            ("POST", "/api/auth/refresh/"): {"refresh": owner.refresh},
            ("POST", "/api/auth/token/refresh/"): {"refresh": owner.refresh},
            ("POST", "/api/auth/logout/"): {"refresh_token": owner.refresh},
            ("POST", "/api/organizations/{id}/add_member/"): {"user_id": stranger.pk},
            ("POST", "/api/user-organizations/"): {
                "user_id": stranger.pk,
                "organization_id": organization.pk,
            },
            ("POST", "/api/pipeline-stages/{id}/reorder/"): {"order": 0},
        },
    )


@pytest.fixture
def world(db, settings) -> World:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    return seed_world()


@pytest.fixture(autouse=True)
def in_process_requests():
    """Keep the test's connection open across requests, as Django's own test client does.

    The WSGI handler closes "old" connections when a request starts and ends; inside the test
    transaction that would break it, so the handler's hook is detached for the duration.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded once at collection from the app itself (the schema view needs no database).
with override_settings(ALLOWED_HOSTS=["localhost"]):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


def use_seeded_ids(case, data, world: World) -> None:
    """Point about half of the generated ids at seeded rows of the organization."""
    resource = case.path_parameters or {}
    if "id" in resource and data.draw(st.booleans(), label="seeded path id"):
        seeded = world.path_id(case.operation.path)
        if seeded is not None:
            resource["id"] = seeded
    headers = case.headers or {}
    if "X-Organization-ID" in headers and data.draw(st.booleans(), label="seeded header"):
        headers["X-Organization-ID"] = str(world.organization_id)
    if isinstance(case.body, dict):
        known = world.bodies.get((case.method.upper(), case.operation.path))
        if known and data.draw(st.booleans(), label="known body values"):
            case.body.update(known)
        for key in sorted(case.body):
            if key in world.body_ids and data.draw(st.booleans(), label=f"seeded {key}"):
                case.body[key] = world.body_ids[key]
        if "ids" in case.body and data.draw(st.booleans(), label="seeded ids"):
            seeded = world.path_id(case.operation.path.replace("/bulk_", "/{id}/bulk_"))
            if seeded is not None:
                case.body["ids"] = [seeded]


@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=not FUZZ_RANDOM,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@schema.given(data=st.data())
@schema.parametrize()
def test_api_conforms_to_its_schema(case, data, world):
    use_seeded_ids(case, data, world)
    cache.clear()
    with transaction.atomic():
        case.call_and_validate(
            headers={"Authorization": f"Bearer {world.owner.access}"}, checks=CHECKS
        )
        transaction.set_rollback(True)
