"""Roles and their grants: creation with a unique slug, granting and revoking permissions.

Grants are only ever made between a role and a permission of the same organization; the callers
resolve ids inside the role's organization, and these functions re-check it so a service call can
never link two tenants.
"""

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from crmApp.errors import InvalidInput, NotFound
from crmApp.models import Organization, Permission, Role, RolePermission, User, UserRole
from crmApp.selectors.rbac import DUPLICATE_ROLE, role_name_taken
from crmApp.services.organizations import unique_slug
from crmApp.services.records import record_create, record_delete, record_update

SYSTEM_PERMISSION = "System permissions cannot be changed or deleted."
SYSTEM_ROLE = "System roles cannot be deleted."
PERMISSION_NOT_FOUND = "Permission not found"


def _check_same_organization(role: Role, permissions: Iterable[Permission]) -> list[Permission]:
    permissions = list(permissions)
    if any(permission.organization_id != role.organization_id for permission in permissions):
        raise InvalidInput({"permission_ids": ["Permissions must belong to the organization."]})
    return permissions


@transaction.atomic
def role_create(
    *,
    actor: User | None,
    organization: Organization,
    name: str,
    description: str | None = None,
    is_active: bool = True,
    permissions: Iterable[Permission] = (),
) -> Role:
    """Create a role with a slug unique in its organization, and its grants, all or nothing.

    Names are unique per organization (case-insensitively), so two roles never read alike; the
    slug derives from the name and is suffixed when punctuation makes two names slugify alike.
    """
    if role_name_taken(organization_id=organization.pk, name=name):
        raise InvalidInput({"name": [DUPLICATE_ROLE]})
    slug = unique_slug(
        name=name,
        taken=lambda s: Role.objects.filter(organization=organization, slug=s).exists(),
        max_length=100,
    )
    role = Role.objects.create(
        organization=organization,
        name=name,
        slug=slug,
        description=description,
        is_active=is_active,
    )
    role_set_permissions(role=role, permissions=permissions)
    return role


@transaction.atomic
def role_set_permissions(*, role: Role, permissions: Iterable[Permission]) -> None:
    """Make the role's grants exactly `permissions` (adds the missing, removes the rest)."""
    wanted = {
        permission.pk: permission for permission in _check_same_organization(role, permissions)
    }
    Role.objects.select_for_update().filter(pk=role.pk).first()
    current = set(RolePermission.objects.filter(role=role).values_list("permission_id", flat=True))
    RolePermission.objects.filter(role=role).exclude(permission_id__in=wanted).delete()
    RolePermission.objects.bulk_create(
        RolePermission(role=role, permission=wanted[pk]) for pk in sorted(wanted.keys() - current)
    )


@transaction.atomic
def role_grant_permission(*, role: Role, permission_id: int) -> bool:
    """Grant a permission of the role's organization; idempotent. True when a grant was made."""
    permission = Permission.objects.filter(
        pk=permission_id, organization_id=role.organization_id
    ).first()
    if permission is None:
        raise NotFound(PERMISSION_NOT_FOUND)
    _, created = RolePermission.objects.get_or_create(role=role, permission=permission)
    return created


@transaction.atomic
def role_revoke_permission(*, role: Role, permission_id: int) -> bool:
    """Remove a grant if present; True when one was removed."""
    deleted, _ = RolePermission.objects.filter(role=role, permission_id=permission_id).delete()
    return bool(deleted)


@transaction.atomic
def role_update(
    *, role: Role, actor: User | None, permissions: Iterable[Permission] | None = None, **changes
) -> Role:
    """Change a role's fields and, when `permissions` is given, make its grants exactly those."""
    record_update(role, actor=actor, **changes)
    if permissions is not None:
        role_set_permissions(role=role, permissions=permissions)
    return role


@transaction.atomic
def role_delete(*, role: Role, actor: User | None) -> None:
    """Delete a custom role; the system roles every organization relies on stay."""
    if role.is_system_role:
        raise InvalidInput({"non_field_errors": [SYSTEM_ROLE]})
    record_delete(role, actor=actor)


@transaction.atomic
def permission_create(
    *, actor: User | None, organization: Organization, **fields: Any
) -> Permission:
    return record_create(Permission, actor=actor, organization=organization, **fields)


@transaction.atomic
def permission_update(*, permission: Permission, actor: User | None, **changes: Any) -> Permission:
    return record_update(permission, actor=actor, **changes)


@transaction.atomic
def permission_delete(*, permission: Permission, actor: User | None) -> None:
    """Delete a client-made permission; the seeded system permissions stay (a 400)."""
    if permission.is_system_permission:
        raise InvalidInput({"non_field_errors": [SYSTEM_PERMISSION]})
    record_delete(permission, actor=actor)


@transaction.atomic
def user_role_create(*, actor: User | None, organization: Organization, **fields: Any) -> UserRole:
    """Assign a role (validated to be of `organization`, to an active member of it)."""
    return record_create(
        UserRole, actor=actor, organization=organization, assigned_by=actor, **fields
    )


@transaction.atomic
def user_role_update(*, user_role: UserRole, actor: User | None, **changes: Any) -> UserRole:
    return record_update(user_role, actor=actor, **changes)


@transaction.atomic
def user_role_delete(*, user_role: UserRole, actor: User | None) -> None:
    record_delete(user_role, actor=actor)
