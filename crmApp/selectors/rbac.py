"""Permission, role and role-assignment reads."""

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from crmApp.models import Permission, Role, RolePermission, User, UserRole
from crmApp.selectors.base import ResourceSelector

DUPLICATE_ROLE = "A role with this name already exists in this organization."
#: Caps on the unpaginated arrays.
MAX_BY_RESOURCE = 1000
MAX_MY_ROLES = 200


def role_permission_count(role_path: str = "pk") -> Coalesce:
    """Number of grants of the role at `role_path`, as a subquery (one query for any page)."""
    counts = (
        RolePermission.objects.filter(role_id=OuterRef(role_path))
        .order_by()
        .values("role_id")
        .annotate(total=Count("id"))
        .values("total")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def grants_prefetch(path: str = "role_permissions") -> Prefetch:
    """A role's grants with their permission, in one query for any number of roles."""
    return Prefetch(
        path,
        queryset=RolePermission.objects.select_related("permission").order_by("permission_id"),
    )


def role_name_taken(*, organization_id: int, name: str, exclude_pk: int | None = None) -> bool:
    """Whether another role of the organization has this name (case-insensitively)."""
    roles = Role.objects.filter(organization_id=organization_id, name__iexact=name.strip())
    if exclude_pk is not None:
        roles = roles.exclude(pk=exclude_pk)
    return roles.exists()


class PermissionSelector(ResourceSelector):
    model = Permission

    def by_resource(self, queryset: QuerySet[Permission]) -> QuerySet[Permission]:
        """The first 1000 permissions by resource, action and id (grouped by the caller)."""
        return queryset.order_by("resource", "action", "id")[:MAX_BY_RESOURCE]


class RoleSelector(ResourceSelector):
    model = Role

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.annotate(permission_count=role_permission_count()).prefetch_related(
            grants_prefetch()
        )


class UserRoleSelector(ResourceSelector):
    model = UserRole

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("role").prefetch_related(
            grants_prefetch("role__role_permissions")
        )

    def mine(self, queryset: QuerySet[UserRole], *, user: User) -> QuerySet[UserRole]:
        """The user's active role assignments (first 200 by id)."""
        return queryset.filter(user=user, is_active=True).order_by("id")[:MAX_MY_ROLES]
