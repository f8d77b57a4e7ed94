"""User and login-session reads."""

from collections.abc import Collection

from django.db.models import Exists, Q, QuerySet

from crmApp.identity import identity_key
from crmApp.models import User, UserOrganization, UserSession


def user_by_email(*, email: str, active_only: bool = False) -> User | None:
    """The account whose email has the same identity key as `email` (crmApp.identity)."""
    users = User.objects.filter(email_key=identity_key(email))
    if active_only:
        users = users.filter(is_active=True)
    return users.first()


def email_taken(*, email: str) -> bool:
    return User.objects.filter(email_key=identity_key(email)).exists()


def username_taken(*, username: str, exclude_pk: int | None = None) -> bool:
    taken = User.objects.filter(username_key=identity_key(username))
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return taken.exists()


def user_addable_by(*, user_id: int, actor_id: int) -> User | None:
    """The account `actor_id` may add by id: active, verified, and already sharing an active
    organization with the actor. Any other id (missing, unverified, a stranger) is None, so a
    caller cannot tell a stranger's account from a missing one or pull strangers in by id.
    """
    actor_orgs = UserOrganization.objects.filter(user_id=actor_id, is_active=True).values(
        "organization_id"
    )
    shared = UserOrganization.objects.filter(
        user_id=user_id, is_active=True, organization_id__in=actor_orgs
    )
    return (
        User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=False)
        .filter(Exists(shared))
        .first()
    )


def users_visible_to(*, user: User, organization_ids: Collection[int]) -> QuerySet[User]:
    """The caller and the active members of the organizations where they may read users."""
    shared = UserOrganization.objects.filter(
        organization_id__in=organization_ids, is_active=True
    ).values("user_id")
    return User.objects.filter(Q(pk=user.pk) | Q(pk__in=shared))


def sessions_of(*, user: User) -> QuerySet[UserSession]:
    """The caller's own login sessions."""
    return UserSession.objects.filter(user=user)
