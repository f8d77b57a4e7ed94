"""The fixed queries every authenticated request runs: the session's user and the access query.

They bypass the ORM's compiler (and, on PostgreSQL, run as prepared statements), so these tests
pin that they return exactly what the ORM would and that the PostgreSQL path really prepares.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.authentication import session_user
from crmApp.db import hot_cursor
from crmApp.models import Role, User, UserRole, UserSession
from crmApp.permissions import resolve_access
from tests.conftest import make_member
from tests.factories import (
    DealFactory,
    OrganizationFactory,
    PipelineFactory,
    PipelineStageFactory,
)

pytestmark = pytest.mark.django_db

USER_FIELDS = [field.attname for field in User._meta.concrete_fields]


def test_session_user_matches_the_orm_field_for_field(owner):
    session = UserSession.objects.get(user=owner.user)

    user = session_user(session.pk, owner.user.pk)

    expected = User.objects.get(pk=owner.user.pk)
    assert [getattr(user, name) for name in USER_FIELDS] == [
        getattr(expected, name) for name in USER_FIELDS
    ]
    assert user._state.adding is False and user._state.db == "default"


def test_session_user_refuses_revoked_and_mismatched_sessions(owner, admin):
    session = UserSession.objects.get(user=owner.user)

    assert session_user(session.pk, admin.user.pk) is None
    assert session_user(session.pk + 10_000, owner.user.pk) is None
    UserSession.objects.filter(pk=session.pk).update(is_revoked=True)
    assert session_user(session.pk, owner.user.pk) is None


@pytest.mark.parametrize("kind", ["owner", "admin role", "two organizations", "no membership"])
def test_access_read_with_the_session_equals_the_access_query(org, other_org, kind):
    """Authentication reads the access rows in its session query; the Access built from them
    must be exactly the one the access query alone resolves, in one query instead of two."""
    member = make_member(org, owner=kind == "owner", role="admin" if kind != "owner" else None)
    if kind == "two organizations":
        member.user.user_organizations.create(organization=other_org, is_owner=True)
    if kind == "no membership":
        member.user.user_organizations.all().delete()
    session = UserSession.objects.get(user=member.user)

    with CaptureQueriesContext(connection) as queries:
        user = session_user(session.pk, member.user.pk)
        preloaded = resolve_access(user)

    assert len(queries) == 1
    assert preloaded == resolve_access(User.objects.get(pk=member.user.pk))
    assert (kind == "no membership") == (preloaded.member_org_ids == frozenset())


def test_token_with_non_integer_claims_is_refused(owner):
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(owner.user)
    token["user_id"] = True
    token["sid"] = UserSession.objects.get(user=owner.user).pk
    owner.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = owner.client.get("/api/customers/")

    assert response.status_code == 401


def test_a_role_assigned_under_another_organization_grants_nothing(org):
    """Grants count only where both the role's and the assignment's organization are active
    memberships (the rule the access query leaves to Python)."""
    elsewhere = OrganizationFactory()
    member = make_member(org)  # member of `org` only
    UserRole.objects.create(
        user=member.user,
        organization=org,
        role=Role.objects.get(organization=elsewhere, slug="admin"),
    )

    access = resolve_access(member.user)

    assert access.member_org_ids == frozenset({org.pk})
    assert access.grants == {}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
@pytest.mark.skipif(
    "prepare_threshold" not in connection.settings_dict.get("OPTIONS", {}),
    reason="prepared statements are off (DATABASE_PREPARED_STATEMENTS; behind PgBouncer)",
)
def test_hot_queries_are_prepared_once_per_connection_on_postgresql(owner):
    session = UserSession.objects.get(user=owner.user)
    for _ in range(3):
        assert session_user(session.pk, owner.user.pk).pk == owner.user.pk
        resolve_access(owner.user)

    with hot_cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]

    # the session query (with the access rows riding along) and the access query alone
    assert sum('FROM "refresh_tokens" s' in text for text in prepared) == 1
    assert sum(text.lstrip().startswith("SELECT uo.organization_id") for text in prepared) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_hot_cursor_is_plain_while_queries_are_logged():

    with CaptureQueriesContext(connection) as queries, hot_cursor() as cursor:
        cursor.execute("SELECT %s + 1", [41])
        assert cursor.fetchone() == (42,)

    assert queries.captured_queries[-1]["sql"] == "SELECT 41 + 1"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
@pytest.mark.skipif(
    "prepare_threshold" not in connection.settings_dict.get("OPTIONS", {}),
    reason="prepared statements are off (DATABASE_PREPARED_STATEMENTS; behind PgBouncer)",
)
def test_detail_reads_and_batched_writes_are_prepared_and_answer_as_the_plain_path(owner, org):
    """A detail read by primary key and a transition's batched writes run as prepared
    statements; the answers equal those of the plain (client-bound, logged) path."""
    pipeline = PipelineFactory(organization=org)
    first, second = (PipelineStageFactory(pipeline=pipeline) for _ in range(2))
    deal = DealFactory(organization=org, pipeline=pipeline, stage=first)
    url = f"/api/deals/{deal.pk}/"

    prepared = [owner.client.get(url).json() for _ in range(2)]
    with CaptureQueriesContext(connection):  # logged: the plain path
        plain = owner.client.get(url).json()
    moved = owner.client.post(f"{url}move_stage/", {"stage_id": second.pk}, format="json")

    assert prepared == [plain, plain]
    assert moved.status_code == 200 and moved.json()["deal"]["stage"]["id"] == second.pk
    assert moved.json()["deal"] == owner.client.get(url).json()
    with hot_cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        texts = [row[0] for row in cursor.fetchall()]
    assert sum(text.startswith('SELECT "deals"."id"') for text in texts) >= 1
    assert sum(text.startswith('WITH w0 AS (UPDATE "deals"') for text in texts) == 1
