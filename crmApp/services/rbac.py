"""Roles and their grants: creation with a unique slug, granting and revoking permissions.

Grants are only ever made between a role and a permission of the same organization; the callers
resolve ids inside the role's organization, and these functions re-check it so a service call can
never link two tenants.

Who may change grants is decided here too, from the caller's `Access` (None only for trusted
callers without a user: seeding, management commands): changing a role's permissions needs
`roles:manage`, and nobody grants a permission they do not hold themselves, whether by adding it
to a role or by assigning a role that carries it. Otherwise `roles:update` (or `roles:manage`
alone) would be enough to hand oneself everything. A permission's `(resource, action)` is fixed
once created, so renaming a harmless permission cannot turn existing grants into powerful ones.
"""

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from crmApp.errors import Forbidden, InvalidInput, NotFound
from crmApp.models import Organization, Permission, Role, RolePermission, User, UserRole
from crmApp.permissions.access import Access
from crmApp.permissions.table import Perm
from crmApp.selectors.rbac import DUPLICATE_ROLE, role_name_taken
from crmApp.services.audit import audit_record
from crmApp.services.organizations import unique_slug
from crmApp.services.records import record_create, record_delete, record_update

SYSTEM_PERMISSION = "System permissions cannot be changed or deleted."
SYSTEM_ROLE = "System roles cannot be deleted."
PERMISSION_NOT_FOUND = "Permission not found"
MANAGE_ROLES: Perm = ("roles", "manage")
GRANTS_NEED_MANAGE = "Changing a role's permissions requires the roles:manage permission."
NOT_HELD = "You cannot grant permissions you do not hold: {pairs}."
FIXED_PAIR = "The {field} of a permission cannot be changed after it is created."


def _check_may_change_grants(access: Access | None, organization_id: int) -> None:
    if access is not None and not access.has(organization_id, (MANAGE_ROLES,)):
        raise Forbidden(GRANTS_NEED_MANAGE)


def _check_holds(
    access: Access | None, organization_id: int, permissions: Iterable[Permission]
) -> None:
    """Refuse granting any of `permissions` the caller does not hold there (manage implies all
    of a resource's actions and the owner holds everything, as `Access.has` reads them)."""
    if access is None:
        return
    missing = sorted(
        {
            f"{p.resource}:{p.action}"
            for p in permissions
            if not access.has(organization_id, ((p.resource, p.action),))
        }
    )
    if missing:
        raise Forbidden(NOT_HELD.format(pairs=", ".join(missing)))


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
    access: Access | None,
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
    audit_record(role, "created", actor=actor)
    permissions = list(permissions)
    if permissions:
        role_set_permissions(role=role, permissions=permissions, access=access)
    return role


@transaction.atomic
def role_set_permissions(
    *, role: Role, permissions: Iterable[Permission], access: Access | None
) -> None:
    """Make the role's grants exactly `permissions` (adds the missing, removes the rest).

    Needs `roles:manage`; each grant added must be one the caller holds (grants already on the
    role may stay, or be removed, whoever holds them).
    """
    _check_may_change_grants(access, role.organization_id)
    wanted = {
        permission.pk: permission for permission in _check_same_organization(role, permissions)
    }
    Role.objects.select_for_update().filter(pk=role.pk).first()
    current = set(RolePermission.objects.filter(role=role).values_list("permission_id", flat=True))
    _check_holds(access, role.organization_id, (wanted[pk] for pk in wanted.keys() - current))
    RolePermission.objects.filter(role=role).exclude(permission_id__in=wanted).delete()
    RolePermission.objects.bulk_create(
        RolePermission(role=role, permission=wanted[pk]) for pk in sorted(wanted.keys() - current)
    )
    if current != wanted.keys():
        _audit_grants(role, access, old=current, new=set(wanted))


def _audit_grants(role: Role, access: Access | None, *, old: set[int], new: set[int]) -> None:
    """A role's grants changed: one audit row on the role, its permission ids before and after."""
    audit_record(
        role,
        "permissions_changed",
        actor=None,
        actor_id=access.user_id if access is not None else None,
        before={"permission_ids": sorted(old)},
        after={"permission_ids": sorted(new)},
    )


@transaction.atomic
def role_grant_permission(*, role: Role, permission_id: int, access: Access | None) -> bool:
    """Grant a permission of the role's organization; idempotent. True when a grant was made.

    Needs `roles:manage` and the permission itself.
    """
    _check_may_change_grants(access, role.organization_id)
    permission = Permission.objects.filter(
        pk=permission_id, organization_id=role.organization_id
    ).first()
    if permission is None:
        raise NotFound(PERMISSION_NOT_FOUND)
    _check_holds(access, role.organization_id, (permission,))
    _, created = RolePermission.objects.get_or_create(role=role, permission=permission)
    if created:
        _audit_grants(role, access, old=set(), new={permission.pk})
    return created


@transaction.atomic
def role_revoke_permission(*, role: Role, permission_id: int, access: Access | None) -> bool:
    """Remove a grant if present (needs `roles:manage`); True when one was removed."""
    _check_may_change_grants(access, role.organization_id)
    deleted, _ = RolePermission.objects.filter(role=role, permission_id=permission_id).delete()
    if deleted:
        _audit_grants(role, access, old={permission_id}, new=set())
    return bool(deleted)


@transaction.atomic
def role_update(
    *,
    role: Role,
    actor: User | None,
    access: Access | None,
    permissions: Iterable[Permission] | None = None,
    **changes: Any,
) -> Role:
    """Change a role's fields and, when `permissions` is given, make its grants exactly those
    (which needs `roles:manage`, checked before anything is written)."""
    if permissions is not None:
        _check_may_change_grants(access, role.organization_id)
    record_update(role, actor=actor, **changes)
    if permissions is not None:
        role_set_permissions(role=role, permissions=permissions, access=access)
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
    """Change a permission's description; its `(resource, action)` stays what it was created as,
    since every role granting it would silently gain whatever the new pair allows."""
    errors: dict[str, list[str]] = {
        field: [FIXED_PAIR.format(field=field)]
        for field in ("resource", "action")
        if field in changes and changes[field] != getattr(permission, field)
    }
    if errors:
        raise InvalidInput(errors)
    return record_update(permission, actor=actor, **changes)


@transaction.atomic
def permission_delete(*, permission: Permission, actor: User | None) -> None:
    """Delete a client-made permission; the seeded system permissions stay (a 400)."""
    if permission.is_system_permission:
        raise InvalidInput({"non_field_errors": [SYSTEM_PERMISSION]})
    record_delete(permission, actor=actor)


@transaction.atomic
def _role_grants(role: Role) -> list[Permission]:
    return list(Permission.objects.filter(role_permissions__role=role))


def role_grant_check(*, access: Access | None, role: Role) -> None:
    """Refuse (403) handing `role` to anyone unless the caller holds every permission it
    carries: the rule of role assignment, also applied to a role chosen for an invitation."""
    _check_holds(access, role.organization_id, _role_grants(role))


@transaction.atomic
def user_role_create(
    *, actor: User | None, organization: Organization, access: Access | None, **fields: Any
) -> UserRole:
    """Assign a role (validated to be of `organization`, to an active member of it); the caller
    must hold every permission the role grants."""
    _check_holds(access, organization.pk, _role_grants(fields["role"]))
    return record_create(
        UserRole, actor=actor, organization=organization, assigned_by=actor, **fields
    )


@transaction.atomic
def user_role_update(
    *, user_role: UserRole, actor: User | None, access: Access | None, **changes: Any
) -> UserRole:
    """Change an assignment. Re-pointing or re-activating one grants as much as creating it, so
    the caller must then hold every permission of the role it ends up with."""
    role = changes.get("role", user_role.role)
    active = changes.get("is_active", user_role.is_active)
    if active and (role.pk != user_role.role_id or not user_role.is_active):
        _check_holds(access, user_role.organization_id, _role_grants(role))
    return record_update(user_role, actor=actor, **changes)


@transaction.atomic
def user_role_delete(*, user_role: UserRole, actor: User | None) -> None:
    record_delete(user_role, actor=actor)
