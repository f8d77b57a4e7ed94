"""Employee reads."""

from typing import cast

from django.db.models import QuerySet

from crmApp.models import Employee
from crmApp.selectors.base import ResourceSelector

#: Upper bound of the unpaginated `departments` array.
MAX_DEPARTMENTS = 500


class EmployeeSelector(ResourceSelector):
    model = Employee
    plain_actions = frozenset({"departments"})

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("user", "manager__manager")

    def listing(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("manager")

    def departments(self, queryset: QuerySet[Employee]) -> list[str]:
        """The distinct non-empty department names, alphabetically (first 500)."""
        names = (
            queryset.exclude(department__isnull=True)
            .exclude(department="")
            .order_by("department")
            .values_list("department", flat=True)
            .distinct()[:MAX_DEPARTMENTS]
        )
        # The column is nullable, but the NULLs were just excluded.
        return list(cast("QuerySet[Employee, str]", names))
