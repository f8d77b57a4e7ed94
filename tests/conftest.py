"""Shared fixtures: an organization, another organization, and an API client per role.

Clients authenticate with real JWTs minted by the login service, so revocation and the
permission table are exercised exactly as in production.
"""

import re
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from crmApp import logging as crm_logging
from crmApp.models import Organization, Role, User, UserOrganization, UserRole
from crmApp.services.auth import session_start
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

SYSTEM_ROLE_SLUGS = ("admin", "manager", "sales", "viewer")


@dataclass
class Member:
    user: User
    organization: Organization
    client: APIClient
    access: str
    refresh: str


def authenticated_client(user: User) -> tuple[APIClient, str, str]:
    tokens = session_start(user=user, ip_address="127.0.0.1", device_info="pytest")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    return client, tokens.access, tokens.refresh


def make_member(
    organization: Organization, *, role: str | None = None, owner: bool = False
) -> Member:
    """A user who is an active member of `organization`, holding `role` (a system role slug)."""
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, is_owner=owner)
    if role is not None:
        UserRole.objects.create(
            user=user,
            organization=organization,
            role=Role.objects.get(organization=organization, slug=role),
        )
    client, access, refresh = authenticated_client(user)
    return Member(
        user=user, organization=organization, client=client, access=access, refresh=refresh
    )


@pytest.fixture(autouse=True, scope="session")
def _files_in_a_temporary_directory(tmp_path_factory):
    """Attachments and import files of the whole run go to a temporary MEDIA_ROOT (returned),
    in its `files` folder as the settings put them."""
    from django.conf import settings
    from django.core.files.storage import storages

    media_root = tmp_path_factory.mktemp("media")
    location = str(media_root / "files")
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        },
    }
    storages._storages = {}
    storages._backends = None
    storages.__dict__.pop("backends", None)
    return media_root


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    # Outage warnings are written at most once a minute per process; each test starts afresh.
    crm_logging.forget_logged()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def org(db) -> Organization:
    return OrganizationFactory(name="Acme")


@pytest.fixture
def other_org(db) -> Organization:
    return OrganizationFactory(name="Globex")


@pytest.fixture
def owner(org) -> Member:
    return make_member(org, owner=True)


@pytest.fixture
def admin(org) -> Member:
    return make_member(org, role="admin")


@pytest.fixture
def manager(org) -> Member:
    return make_member(org, role="manager")


@pytest.fixture
def sales(org) -> Member:
    return make_member(org, role="sales")


@pytest.fixture
def viewer(org) -> Member:
    return make_member(org, role="viewer")


@pytest.fixture
def no_role(org) -> Member:
    """An active member holding no role: can read nothing and write nothing."""
    return make_member(org)


@pytest.fixture
def other_owner(other_org) -> Member:
    return make_member(other_org, owner=True)


@pytest.fixture
def outsider(db) -> Member:
    """An authenticated user with no membership anywhere."""
    user = UserFactory()
    client, access, refresh = authenticated_client(user)
    return Member(user=user, organization=None, client=client, access=access, refresh=refresh)


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def membership(user: User, organization: Organization) -> UserOrganization:
    return UserOrganization.objects.get(user=user, organization=organization)


def make_colleague(member: Member, **user_fields) -> User:
    """A verified account that shares another active organization with `member`: the only
    kind of account `member` may add to an organization by id."""
    user = UserFactory(**user_fields)
    shared = OrganizationFactory()
    MembershipFactory(user=member.user, organization=shared)
    MembershipFactory(user=user, organization=shared)
    return user


def token_from(message) -> str:
    """The token of the link in an account email (`...?token=<token>`)."""
    match = re.search(r"\?token=([A-Za-z0-9_\-]+)", message.body)
    assert match is not None, message.body
    return match.group(1)
