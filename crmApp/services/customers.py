"""Customer status actions and figures."""

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crmApp.models import Customer, User
from crmApp.models.base import ActiveStatus
from crmApp.services.events import event_record_for


@transaction.atomic
def customer_set_status(*, customer: Customer, status: str, actor: User | None = None) -> Customer:
    """Set a customer's status with one conditional UPDATE.

    Activate/deactivate are unconditional (repeating one is fine), so a single UPDATE of the row
    is enough: concurrent calls cannot interleave a read and a write, the last one wins.
    """
    now = timezone.now()
    Customer.objects.filter(pk=customer.pk).update(status=status, updated_at=now)
    customer.status, customer.updated_at = status, now
    event_record_for(customer, "customer.updated", actor=actor)
    return customer


def customer_stats(*, queryset: QuerySet[Customer]) -> dict:
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
