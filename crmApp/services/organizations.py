"""Organization lifecycle: creation with its owner, roles and permissions; memberships."""

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from crmApp.models import Organization, Permission, Role, RolePermission, User, UserOrganization
from crmApp.permissions import ACTIONS, RESOURCES, SYSTEM_ROLES


def unique_slug(*, name: str, taken) -> str:
    """`name` slugified, suffixed `-2`, `-3`... until `taken(slug)` is false."""
    base = (slugify(name) or "item")[:240]
    slug, suffix = base, 2
    while taken(slug):
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


def organization_setup_rbac(*, organization: Organization) -> dict[str, Role]:
    """Create every (resource, action) permission and the system roles for an organization."""
    permissions = Permission.objects.bulk_create(
        Permission(
            organization=organization,
            resource=resource,
            action=action,
            description=f"{action.title()} {resource}",
            is_system_permission=True,
        )
        for resource in RESOURCES
        for action in ACTIONS
    )
    by_pair = {(p.resource, p.action): p for p in permissions}
    roles = {}
    grants = []
    for slug, (name, description, granted) in SYSTEM_ROLES.items():
        role = Role.objects.create(
            organization=organization,
            name=name,
            slug=slug,
            description=description,
            is_system_role=True,
        )
        roles[slug] = role
        grants.extend(RolePermission(role=role, permission=by_pair[pair]) for pair in granted)
    RolePermission.objects.bulk_create(grants)
    return roles


def organization_create(*, owner: User, name: str, **fields) -> Organization:
    """Create an organization, make `owner` its owner and set up its roles, in one transaction.

    The slug comes from the name; a concurrent creator taking the same slug makes us retry with
    the next suffix instead of failing.
    """
    for _attempt in range(5):
        try:
            with transaction.atomic():
                slug = unique_slug(
                    name=name, taken=lambda s: Organization.objects.filter(slug=s).exists()
                )
                organization = Organization.objects.create(name=name, slug=slug, **fields)
                UserOrganization.objects.create(
                    user=owner, organization=organization, is_owner=True, is_active=True
                )
                organization_setup_rbac(organization=organization)
                return organization
        except IntegrityError:
            continue
    raise IntegrityError("could not allocate a unique organization slug")
