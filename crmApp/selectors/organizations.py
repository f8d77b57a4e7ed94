"""Organization and membership reads."""

from django.db import router
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from crmApp.models import Organization, UserOrganization
from crmApp.selectors.base import ResourceSelector

#: Caps on the unpaginated arrays.
MAX_MY_ORGANIZATIONS = 200
MAX_MEMBERS = 500


def organization_reference(pk: int) -> Organization:
    """An Organization standing for row `pk` without reading it: only its id is set, every
    other field is deferred (read from the database on first access, so never wrong).

    For forms that must name the organization a record goes to when the caller's access
    (read with the session) already proves it is one of their memberships: a create then
    sends no SELECT of the organization row just to set a foreign key.
    """
    return Organization.from_db(router.db_for_read(Organization), ["id"], [pk])


def active_member_count(organization_path: str = "pk") -> Coalesce:
    """Number of active memberships of the organization at `organization_path`, as a subquery.

    A correlated subquery (rather than `Count` over a join) composes with any other join or
    annotation without multiplying rows, so lists stay one query whatever they select.
    """
    counts = (
        UserOrganization.objects.filter(organization_id=OuterRef(organization_path), is_active=True)
        .order_by()
        .values("organization_id")
        .annotate(total=Count("id"))
        .values("total")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


class OrganizationSelector(ResourceSelector):
    model = Organization

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.annotate(member_count=active_member_count())

    def mine(self, queryset: QuerySet[Organization]) -> QuerySet[Organization]:
        """The caller's organizations (already limited to them), first 200 by id."""
        return queryset.order_by("id")[:MAX_MY_ORGANIZATIONS]

    def members(self, organization: Organization) -> QuerySet[UserOrganization]:
        """The organization's active memberships with their users, first 500 by id."""
        return (
            organization.user_organizations.filter(is_active=True)
            .select_related("user")
            .order_by("id")[:MAX_MEMBERS]
        )

    def membership_answer(self, membership: UserOrganization) -> UserOrganization:
        """A membership with its organization as the organization detail reads it."""
        membership.organization = self.detail(
            Organization.objects.filter(pk=membership.organization_id)
        ).get()
        return membership


class MembershipSelector(ResourceSelector):
    model = UserOrganization

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("user", "organization").annotate(
            organization_member_count=active_member_count("organization_id")
        )

    def active(self, organization: Organization, *, user_id: int) -> UserOrganization | None:
        return organization.user_organizations.filter(user_id=user_id, is_active=True).first()
