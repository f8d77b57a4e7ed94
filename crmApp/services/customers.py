"""Customer writes: create, update, delete and the status actions."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from crmApp.models import Customer, Organization, User
from crmApp.services.audit import audit_values
from crmApp.services.events import event_record_for
from crmApp.services.records import record_create, record_delete, record_update, records_delete


@transaction.atomic
def customer_set_status(*, customer: Customer, status: str, actor: User | None = None) -> Customer:
    """Set a customer's status with one conditional UPDATE.

    Activate/deactivate are unconditional (repeating one is fine), so a single UPDATE of the row
    is enough: concurrent calls cannot interleave a read and a write, the last one wins.
    """
    now = timezone.now()
    before = audit_values(customer)
    Customer.objects.filter(pk=customer.pk).update(status=status, updated_at=now)
    customer.status, customer.updated_at = status, now
    event_record_for(customer, "customer.updated", actor=actor, before=before)
    return customer


@transaction.atomic(savepoint=False)
def customer_create(*, actor: User | None, organization: Organization, **fields: Any) -> Customer:
    return record_create(Customer, actor=actor, organization=organization, **fields)


@transaction.atomic(savepoint=False)
def customer_update(*, customer: Customer, actor: User | None, **changes: Any) -> Customer:
    return record_update(customer, actor=actor, **changes)


@transaction.atomic(savepoint=False)
def customer_delete(*, customer: Customer, actor: User | None) -> None:
    record_delete(customer, actor=actor)


@transaction.atomic(savepoint=False)
def customer_delete_many(*, ids: list[int], actor: User | None) -> int:
    """Delete the customers with `ids` (already checked to be visible and deletable)."""
    return records_delete(Customer, ids=ids, actor=actor)
