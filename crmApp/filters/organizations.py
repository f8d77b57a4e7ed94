import django_filters

from crmApp.filters.base import IdFilter, StrictBooleanFilter, StrictFilterSet
from crmApp.models import Invitation, UserOrganization


class MembershipFilterSet(StrictFilterSet):
    """Extra narrowing for `user-organizations/` (the contract defines none; all optional)."""

    user = IdFilter(field_name="user_id")
    is_active = StrictBooleanFilter(field_name="is_active")
    is_owner = StrictBooleanFilter(field_name="is_owner")

    class Meta:
        model = UserOrganization
        fields = ["user", "is_active", "is_owner"]


class InvitationFilterSet(StrictFilterSet):
    """`invitations/?status=` (stored status: pending, accepted, revoked; an expired invitation
    is a pending one past `expires_at`)."""

    status = django_filters.ChoiceFilter(choices=Invitation.Status.choices)

    class Meta:
        model = Invitation
        fields = ["status"]
