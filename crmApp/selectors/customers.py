"""Customer reads: detail joins, list rows, stats."""

from django.db.models import Count, Q, QuerySet

from crmApp.models import Customer
from crmApp.models.base import ActiveStatus
from crmApp.selectors.base import ResourceSelector
from crmApp.selectors.rows import ListSpec, employee_name, plain


class CustomerSelector(ResourceSelector):
    model = Customer
    fixed_detail_shapes = True
    list_rows = ListSpec(
        [
            *plain("id", "code", "name", "email", "phone", "customer_type", "status"),
            employee_name("assigned_to_name", "assigned_to"),
        ]
    )
    plain_actions = frozenset({"stats", "export_csv", "bulk_update", "bulk_delete", "timeline"})

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("assigned_to__manager", "converted_from_lead")

    def stats(self, queryset: QuerySet[Customer]) -> dict:
        """Counts over an already scoped queryset, in one aggregate query (conditional counts)."""
        figures = queryset.order_by().aggregate(
            total=Count("id"),
            active=Count("id", filter=Q(status=ActiveStatus.ACTIVE)),
            inactive=Count("id", filter=Q(status=ActiveStatus.INACTIVE)),
            individual=Count("id", filter=Q(customer_type=Customer.CustomerType.INDIVIDUAL)),
            business=Count("id", filter=Q(customer_type=Customer.CustomerType.BUSINESS)),
        )
        return {
            "total": figures["total"],
            "active": figures["active"],
            "inactive": figures["inactive"],
            "by_type": {"individual": figures["individual"], "business": figures["business"]},
        }
