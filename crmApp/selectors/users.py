"""User and login-session reads."""

from collections.abc import Collection

from django.db.models import Q, QuerySet

from crmApp.models import User, UserOrganization, UserSession


def users_visible_to(*, user: User, organization_ids: Collection[int]) -> QuerySet[User]:
    """The caller and the active members of the organizations where they may read users."""
    shared = UserOrganization.objects.filter(
        organization_id__in=organization_ids, is_active=True
    ).values("user_id")
    return User.objects.filter(Q(pk=user.pk) | Q(pk__in=shared))


def sessions_of(*, user: User) -> QuerySet[UserSession]:
    """The caller's own login sessions."""
    return UserSession.objects.filter(user=user)
