"""Organization lifecycle: creation with its owner, roles and permissions; memberships."""

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from crmApp.errors import Forbidden, InvalidInput
from crmApp.models import (
    Organization,
    Permission,
    Role,
    RolePermission,
    User,
    UserOrganization,
    UserRole,
)

# From the vocabulary module, not the package: the package also holds the DRF permission
# classes, and a service must not pull in the HTTP layer.
from crmApp.permissions.table import SYSTEM_PERMISSIONS, SYSTEM_ROLES
from crmApp.services.audit import audit_record, audit_values
from crmApp.services.events import event_record_for


def unique_slug(*, name: str, taken, max_length: int = 255) -> str:
    """`name` slugified, suffixed `-2`, `-3`... until `taken(slug)` is false.

    The base is cut so that the suffixed slug still fits in `max_length`.
    """
    base = (slugify(name) or "item")[: max_length - 15].strip("-") or "item"
    slug, suffix = base, 2
    while taken(slug):
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


def organization_setup_rbac(*, organization: Organization) -> dict[str, Role]:
    """Create the system permissions and the system roles granting them for an organization.

    Only the pairs the system roles use are created (and protected as system permissions), so a
    client can still create any other pair of the vocabulary and grant it to a custom role.
    """
    permissions = Permission.objects.bulk_create(
        Permission(
            organization=organization,
            resource=resource,
            action=action,
            description=f"{action.title()} {resource}",
            is_system_permission=True,
        )
        for resource, action in SYSTEM_PERMISSIONS
    )
    by_pair = {(p.resource, p.action): p for p in permissions}
    roles: dict[str, Role] = {}
    grants: list[RolePermission] = []
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


TOO_MANY_ORGANIZATIONS = (
    "You already belong to {limit} organizations, the most one user may have; leave one before "
    "creating another."
)


def _check_organization_limit(owner: User) -> None:
    """Refuse a new organization once `owner` has `MAX_ORGANIZATIONS_PER_USER` active memberships.

    Every active membership counts, owned or joined: each is an organization the user's requests
    are resolved against, and creating organizations is free. The user's row is locked first so
    two concurrent creations cannot both pass the count.
    """
    limit = settings.MAX_ORGANIZATIONS_PER_USER
    User.objects.select_for_update().filter(pk=owner.pk).first()
    held = UserOrganization.objects.filter(user=owner, is_active=True).count()
    if held >= limit:
        raise InvalidInput({"non_field_errors": [TOO_MANY_ORGANIZATIONS.format(limit=limit)]})


def organization_create(*, owner: User, name: str, **fields) -> Organization:
    """Create an organization, make `owner` its owner and set up its roles, in one transaction.

    The slug comes from the name; a concurrent creator taking the same slug makes us retry with
    the next suffix instead of failing. A user with `MAX_ORGANIZATIONS_PER_USER` active
    memberships is refused (400).
    """
    for _attempt in range(5):
        try:
            with transaction.atomic():
                _check_organization_limit(owner)
                slug = unique_slug(
                    name=name, taken=lambda s: Organization.objects.filter(slug=s).exists()
                )
                organization = Organization.objects.create(name=name, slug=slug, **fields)
                UserOrganization.objects.create(
                    user=owner, organization=organization, is_owner=True, is_active=True
                )
                organization_setup_rbac(organization=organization)
                audit_record(organization, "created", actor=owner)
                return organization
        except IntegrityError:
            continue
    raise IntegrityError("could not allocate a unique organization slug")


# --- memberships ------------------------------------------------------------------------------

LAST_OWNER = (
    "The last owner of an organization cannot leave, be removed, deactivated or demoted; "
    "make another member an owner first."
)
OWNER_MEMBERSHIP = "Only organization owners can change an owner's membership."
GRANT_OWNERSHIP = "Only organization owners can grant ownership."
SELF_PROMOTION = "You cannot make yourself an owner."


def _lock_organization(organization_id: int) -> Organization:
    """Serialize membership changes of one organization on its row.

    "Is there another active owner?" is a check-then-act: two owners leaving at once would each
    see the other and both leave. Every membership change takes this lock first.
    """
    return Organization.objects.select_for_update().get(pk=organization_id)


def _is_owner(*, user: User, organization_id: int) -> bool:
    return UserOrganization.objects.filter(
        user=user, organization_id=organization_id, is_active=True, is_owner=True
    ).exists()


def _other_active_owner_exists(membership: UserOrganization) -> bool:
    return (
        UserOrganization.objects.filter(
            organization_id=membership.organization_id, is_active=True, is_owner=True
        )
        .exclude(pk=membership.pk)
        .exists()
    )


def _guard_last_owner(membership: UserOrganization) -> None:
    if membership.is_active and membership.is_owner and not _other_active_owner_exists(membership):
        raise InvalidInput({"non_field_errors": [LAST_OWNER]})


def _drop_roles(membership: UserOrganization) -> None:
    UserRole.objects.filter(
        user_id=membership.user_id, organization_id=membership.organization_id
    ).delete()


@transaction.atomic
def membership_add(
    *,
    organization_id: int,
    actor: User,
    user: User,
    is_owner: bool = False,
    is_active: bool = True,
) -> UserOrganization:
    """Add `user` to `organization` (or reactivate their earlier membership).

    The caller's right to add members is checked by the view; ownership is a stronger grant that
    only an owner can give. An active member cannot be added twice (400, not an integrity error).
    """
    organization = _lock_organization(organization_id)
    if is_owner and not _is_owner(user=actor, organization_id=organization_id):
        raise Forbidden(GRANT_OWNERSHIP)
    membership = (
        UserOrganization.objects.select_for_update()
        .filter(user=user, organization=organization)
        .first()
    )
    before: dict | None = {}
    if membership is None:
        membership = UserOrganization.objects.create(
            user=user, organization=organization, is_owner=is_owner, is_active=is_active
        )
    elif membership.is_active:
        raise InvalidInput({"user_id": ["This user is already a member of the organization."]})
    else:
        before = audit_values(membership)
        membership.is_active = is_active
        membership.is_owner = is_owner
        membership.left_at = None
        membership.save(update_fields=["is_active", "is_owner", "left_at", "updated_at"])
    if membership.is_active:
        event_record_for(membership, "member.joined", actor=actor, before=before)
    else:
        audit_record(membership, "created" if not before else "updated", actor=actor, before=before)
    return membership


@transaction.atomic
def membership_update(
    *,
    membership: UserOrganization,
    actor: User,
    is_active: bool | None = None,
    is_owner: bool | None = None,
) -> UserOrganization:
    """Change a membership's `is_active` / `is_owner` flags.

    Rules that close S6: only owners touch an owner's membership or grant ownership, nobody
    promotes themselves, and the organization always keeps one active owner.
    """
    _lock_organization(membership.organization_id)
    membership = UserOrganization.objects.select_for_update().get(pk=membership.pk)
    actor_is_owner = _is_owner(user=actor, organization_id=membership.organization_id)
    new_active = membership.is_active if is_active is None else is_active
    new_owner = membership.is_owner if is_owner is None else is_owner
    if (new_active, new_owner) == (membership.is_active, membership.is_owner):
        return membership
    if membership.is_owner and not actor_is_owner:
        raise Forbidden(OWNER_MEMBERSHIP)
    if new_owner and not membership.is_owner:
        if membership.user_id == actor.pk:
            raise Forbidden(SELF_PROMOTION)
        if not actor_is_owner:
            raise Forbidden(GRANT_OWNERSHIP)
    if not (new_active and new_owner):
        _guard_last_owner(membership)
    before = audit_values(membership)
    membership.is_active = new_active
    membership.is_owner = new_owner
    if not new_active:
        membership.left_at = timezone.now()
    elif membership.left_at is not None:
        membership.left_at = None
    membership.save(update_fields=["is_active", "is_owner", "left_at", "updated_at"])
    audit_record(membership, "updated", actor=actor, before=before)
    return membership


@transaction.atomic
def membership_remove(*, membership: UserOrganization, actor: User) -> UserOrganization:
    """End someone else's (or one's own) membership: deactivate it and drop their roles.

    Owners are not removable this way (an owner gives up ownership or leaves first); the row is
    kept so the member can be added back later (`membership_add` reactivates it).
    """
    _lock_organization(membership.organization_id)
    membership = UserOrganization.objects.select_for_update().get(pk=membership.pk)
    if not membership.is_active:
        raise InvalidInput({"user_id": ["This user is not an active member."]})
    if membership.is_owner:
        raise InvalidInput({"user_id": ["An organization owner cannot be removed."]})
    return _end_membership(membership, actor=actor)


@transaction.atomic
def membership_leave(*, organization_id: int, user: User) -> UserOrganization:
    """The caller leaves an organization; the last active owner must hand over first."""
    organization = _lock_organization(organization_id)
    membership = (
        UserOrganization.objects.select_for_update()
        .filter(user=user, organization=organization, is_active=True)
        .first()
    )
    if membership is None:
        raise InvalidInput({"non_field_errors": ["You are not a member of this organization."]})
    _guard_last_owner(membership)
    return _end_membership(membership, actor=user)


def _end_membership(membership: UserOrganization, *, actor: User) -> UserOrganization:
    _drop_roles(membership)
    before = audit_values(membership)
    membership.is_active = False
    membership.is_owner = False
    membership.left_at = timezone.now()
    membership.save(update_fields=["is_active", "is_owner", "left_at", "updated_at"])
    event_record_for(membership, "member.removed", actor=actor, before=before)
    return membership


@transaction.atomic
def membership_delete(*, membership: UserOrganization, actor: User) -> None:
    """Delete a membership row and the member's roles in that organization.

    Same protections as an update: an owner's membership is only an owner's business, and the
    last active owner stays.
    """
    _lock_organization(membership.organization_id)
    membership = UserOrganization.objects.select_for_update().get(pk=membership.pk)
    if membership.is_owner and not _is_owner(
        user=actor, organization_id=membership.organization_id
    ):
        raise Forbidden(OWNER_MEMBERSHIP)
    _guard_last_owner(membership)
    _drop_roles(membership)
    audit_record(membership, "deleted", actor=actor)
    membership.delete()


@transaction.atomic
def organization_update(*, organization: Organization, actor: User, **changes: Any) -> Organization:
    """Change an organization's profile (its owner rules are checked before the call)."""
    before = audit_values(organization)
    for name, value in changes.items():
        setattr(organization, name, value)
    organization.save()
    audit_record(organization, "updated", actor=actor, before=before)
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization, actor: User) -> None:
    """Delete an organization with everything it owns (owner only, checked before the call)."""
    organization.delete()
