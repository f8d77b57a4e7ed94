"""Roles and their grants: creation with a unique slug, granting and revoking permissions.

Grants are only ever made between a role and a permission of the same organization; the callers
resolve ids inside the role's organization, and these functions re-check it so a service call can
never link two tenants.
"""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from rest_framework.exceptions import ValidationError

from crmApp.models import Organization, Permission, Role, RolePermission
from crmApp.services.organizations import unique_slug

DUPLICATE_ROLE = "A role with this name already exists in this organization."


class PermissionNotFound(Exception):
    """The permission id is not a permission of the role's organization."""


def role_permission_count(role_path: str = "pk"):
    """Number of grants of the role at `role_path`, as a subquery (one query for any page)."""
    counts = (
        RolePermission.objects.filter(role_id=OuterRef(role_path))
        .order_by()
        .values("role_id")
        .annotate(total=Count("id"))
        .values("total")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def role_name_taken(*, organization_id: int, name: str, exclude_pk: int | None = None) -> bool:
    roles = Role.objects.filter(organization_id=organization_id, name__iexact=name.strip())
    if exclude_pk is not None:
        roles = roles.exclude(pk=exclude_pk)
    return roles.exists()


def _check_same_organization(role: Role, permissions: Iterable[Permission]) -> list[Permission]:
    permissions = list(permissions)
    if any(permission.organization_id != role.organization_id for permission in permissions):
        raise ValidationError({"permission_ids": ["Permissions must belong to the organization."]})
    return permissions


@transaction.atomic
def role_create(
    *,
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
        raise ValidationError({"name": [DUPLICATE_ROLE]})
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
        raise PermissionNotFound(permission_id)
    _, created = RolePermission.objects.get_or_create(role=role, permission=permission)
    return created


@transaction.atomic
def role_revoke_permission(*, role: Role, permission_id: int) -> bool:
    """Remove a grant if present; True when one was removed."""
    deleted, _ = RolePermission.objects.filter(role=role, permission_id=permission_id).delete()
    return bool(deleted)
