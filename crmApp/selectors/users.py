"""User and login-session reads."""

from collections.abc import Collection

from django.db.models import Q, QuerySet

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


def users_visible_to(*, user: User, organization_ids: Collection[int]) -> QuerySet[User]:
    """The caller and the active members of the organizations where they may read users."""
    shared = UserOrganization.objects.filter(
        organization_id__in=organization_ids, is_active=True
    ).values("user_id")
    return User.objects.filter(Q(pk=user.pk) | Q(pk__in=shared))


def sessions_of(*, user: User) -> QuerySet[UserSession]:
    """The caller's own login sessions."""
    return UserSession.objects.filter(user=user)
