"""Employee writes: create, update, delete and termination."""

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from crmApp.errors import RecordInvalid
from crmApp.models import Employee, Organization, User, UserOrganization
from crmApp.models.base import ActiveStatus
from crmApp.services.audit import audit_values
from crmApp.services.events import event_record_for
from crmApp.services.organizations import membership_update
from crmApp.services.records import record_create, record_delete, record_update

ALREADY_TERMINATED = "Employee is already terminated."
BEFORE_HIRE = "The termination date cannot be before the hire date."


@transaction.atomic
def employee_terminate(
    *,
    employee: Employee,
    termination_date: date | None = None,
    suspend_access: bool = False,
    actor: User | None = None,
) -> tuple[Employee, bool]:
    """End an employment: status `inactive` and a termination date (today in UTC by default).

    The row is locked before the "already terminated" check so two concurrent calls cannot both
    pass it: the second waits, then sees the first one's result and is refused. Terminating twice
    would otherwise silently move the recorded date.

    With `suspend_access`, the linked user's active membership of the employee's organization is
    deactivated in the same transaction, through `membership_update` and so under its rules (only
    an owner touches an owner's membership; the last active owner stays): a refusal there undoes
    the termination too. An employee without a linked user or active membership has no access to
    suspend. Returns the employee and whether a membership was deactivated.
    """
    locked = Employee.objects.select_for_update().get(pk=employee.pk)
    if locked.status == ActiveStatus.INACTIVE and locked.termination_date is not None:
        raise RecordInvalid({"non_field_errors": [ALREADY_TERMINATED]})
    effective = termination_date or timezone.now().date()
    if locked.hire_date is not None and effective < locked.hire_date:
        raise RecordInvalid({"termination_date": [BEFORE_HIRE]})
    before = audit_values(locked)
    locked.status = ActiveStatus.INACTIVE
    locked.termination_date = effective
    locked.save(update_fields=["status", "termination_date", "updated_at"])
    event_record_for(locked, "employee.updated", actor=actor, before=before)
    suspended = False
    if suspend_access:
        suspended = _suspend_membership(employee=locked, actor=actor)
    return locked, suspended


def _suspend_membership(*, employee: Employee, actor: User | None) -> bool:
    if employee.user_id is None:
        return False
    if actor is None:
        raise ValueError("Suspending a member's access needs the acting user.")
    membership = UserOrganization.objects.filter(
        user_id=employee.user_id, organization_id=employee.organization_id, is_active=True
    ).first()
    if membership is None:
        return False
    membership_update(membership=membership, actor=actor, is_active=False)
    return True


@transaction.atomic(savepoint=False)
def employee_create(*, actor: User | None, organization: Organization, **fields: Any) -> Employee:
    return record_create(Employee, actor=actor, organization=organization, **fields)


@transaction.atomic(savepoint=False)
def employee_update(*, employee: Employee, actor: User | None, **changes: Any) -> Employee:
    return record_update(employee, actor=actor, **changes)


@transaction.atomic(savepoint=False)
def employee_delete(*, employee: Employee, actor: User | None) -> None:
    record_delete(employee, actor=actor)
