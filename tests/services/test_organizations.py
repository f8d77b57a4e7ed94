"""Organization and RBAC services: lifecycle, owner rules, atomicity and races."""

from functools import partial

import pytest
from django.db import connection

from crmApp.errors import Forbidden, InvalidInput, NotFound
from crmApp.models import Organization, Permission, Role, RolePermission, UserOrganization, UserRole
from crmApp.permissions import SYSTEM_PERMISSIONS, SYSTEM_ROLES
from crmApp.services import organizations as services
from crmApp.services.rbac import (
    role_create,
    role_grant_permission,
    role_revoke_permission,
)
from tests.concurrency import run_concurrently
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


def test_organization_create_sets_up_owner_permissions_and_system_roles(db):
    owner = UserFactory()

    organization = services.organization_create(owner=owner, name="Acme", city="Paris")

    assert (organization.slug, organization.city) == ("acme", "Paris")
    row = UserOrganization.objects.get(organization=organization)
    assert (row.user_id, row.is_owner, row.is_active) == (owner.pk, True, True)
    pairs = set(
        Permission.objects.filter(organization=organization).values_list("resource", "action")
    )
    assert pairs == set(SYSTEM_PERMISSIONS)
    assert ("roles", "create") not in pairs  # left for clients to create
    for slug, (_name, _description, granted) in SYSTEM_ROLES.items():
        system = Role.objects.get(organization=organization, slug=slug)
        assert system.is_system_role is True
        held = set(
            RolePermission.objects.filter(role=system).values_list(
                "permission__resource", "permission__action"
            )
        )
        assert held == set(granted)


def test_organization_create_suffixes_taken_slugs(db):
    owner = UserFactory()

    slugs = [services.organization_create(owner=owner, name="Acme").slug for _ in range(3)]

    assert slugs == ["acme", "acme-2", "acme-3"]


def test_unique_slug_falls_back_and_fits_the_column():
    assert services.unique_slug(name="!!!", taken=lambda s: False) == "item"
    long_slug = services.unique_slug(
        name="x" * 300, taken=lambda s: not s.endswith("-12"), max_length=100
    )
    assert long_slug.endswith("-12")
    assert len(long_slug) <= 100


def test_organization_create_is_all_or_nothing(db, monkeypatch):
    owner = UserFactory()

    def explode(*, organization):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "organization_setup_rbac", explode)

    with pytest.raises(RuntimeError):
        services.organization_create(owner=owner, name="Doomed")

    assert not Organization.objects.filter(name="Doomed").exists()
    assert not UserOrganization.objects.filter(user=owner).exists()


def test_membership_update_keeps_an_owner(db):
    organization = OrganizationFactory(rbac=False)
    owner = MembershipFactory(organization=organization, is_owner=True)

    with pytest.raises(InvalidInput):
        services.membership_update(membership=owner, actor=owner.user, is_active=False)

    owner.refresh_from_db()
    assert (owner.is_active, owner.is_owner) == (True, True)


def test_membership_update_refuses_self_promotion_even_with_rights(db):
    organization = OrganizationFactory(rbac=False)
    MembershipFactory(organization=organization, is_owner=True)
    member = MembershipFactory(organization=organization)

    with pytest.raises(Forbidden):
        services.membership_update(membership=member, actor=member.user, is_owner=True)

    member.refresh_from_db()
    assert member.is_owner is False


def test_membership_add_reactivates_and_resets_ownership(db):
    organization = OrganizationFactory(rbac=False)
    owner = MembershipFactory(organization=organization, is_owner=True)
    former = MembershipFactory(organization=organization, is_owner=True, is_active=False)

    again = services.membership_add(
        organization_id=organization.pk, actor=owner.user, user=former.user
    )

    assert again.pk == former.pk
    assert (again.is_active, again.is_owner) == (True, False)


def test_membership_remove_and_leave_drop_roles(db):
    organization = OrganizationFactory()
    owner = MembershipFactory(organization=organization, is_owner=True)
    member = MembershipFactory(organization=organization)
    viewer_role = Role.objects.get(organization=organization, slug="viewer")
    UserRole.objects.create(user=member.user, organization=organization, role=viewer_role)

    services.membership_remove(membership=member, actor=owner.user)

    member.refresh_from_db()
    assert member.is_active is False
    assert not UserRole.objects.filter(user=member.user).exists()
    with pytest.raises(InvalidInput):
        services.membership_leave(organization_id=organization.pk, user=member.user)
    with pytest.raises(InvalidInput):
        services.membership_leave(organization_id=organization.pk, user=owner.user)


def test_role_create_is_all_or_nothing(db):
    organization = OrganizationFactory()
    foreign = Permission.objects.filter(organization=OrganizationFactory()).first()
    own = Permission.objects.filter(organization=organization).first()

    with pytest.raises(InvalidInput):
        role_create(
            actor=None,
            organization=organization,
            name="Mixed",
            permissions=[own, foreign],
            access=None,
        )

    assert not Role.objects.filter(name="Mixed").exists()
    assert not RolePermission.objects.filter(permission=own, role__name="Mixed").exists()


def test_role_grant_only_within_the_organization(db):
    organization = OrganizationFactory()
    custom = role_create(actor=None, organization=organization, name="Custom", access=None)
    foreign = Permission.objects.filter(organization=OrganizationFactory()).first()
    own = Permission.objects.filter(organization=organization).first()

    with pytest.raises(NotFound):
        role_grant_permission(role=custom, permission_id=foreign.pk, access=None)

    assert role_grant_permission(role=custom, permission_id=own.pk, access=None) is True
    assert role_grant_permission(role=custom, permission_id=own.pk, access=None) is False
    assert role_revoke_permission(role=custom, permission_id=own.pk, access=None) is True
    assert role_revoke_permission(role=custom, permission_id=own.pk, access=None) is False


# --- races (PostgreSQL only) ----------------------------------------------------------------


def run_in_threads(target, arguments: list) -> list:
    return run_concurrently([partial(target, argument) for argument in arguments])


@pytest.mark.django_db(transaction=True)
def test_two_owners_leaving_at_once_leave_one_owner():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    organization = OrganizationFactory(rbac=False)
    owners = [MembershipFactory(organization=organization, is_owner=True) for _ in range(2)]

    results = run_in_threads(
        lambda user: services.membership_leave(organization_id=organization.pk, user=user),
        [row.user for row in owners],
    )

    assert sum(isinstance(r, InvalidInput) for r in results) == 1
    assert sum(isinstance(r, UserOrganization) for r in results) == 1
    assert (
        UserOrganization.objects.filter(
            organization=organization, is_owner=True, is_active=True
        ).count()
        == 1
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_of_the_same_user_make_one_membership():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    organization = OrganizationFactory(rbac=False)
    owner = MembershipFactory(organization=organization, is_owner=True)
    newcomer = UserFactory()

    results = run_in_threads(
        lambda _: services.membership_add(
            organization_id=organization.pk, actor=owner.user, user=newcomer
        ),
        [0, 1, 2, 3],
    )

    assert sum(isinstance(r, UserOrganization) for r in results) == 1
    assert sum(isinstance(r, InvalidInput) for r in results) == 3
    assert UserOrganization.objects.filter(user=newcomer).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_name_get_distinct_slugs():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    owners = [UserFactory() for _ in range(4)]

    results = run_in_threads(
        lambda user: services.organization_create(owner=user, name="Race"), owners
    )

    assert all(isinstance(r, Organization) for r in results), results
    assert sorted(r.slug for r in results) == ["race", "race-2", "race-3", "race-4"]
