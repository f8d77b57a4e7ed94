"""Employee business actions."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crmApp.models import Employee, User
from crmApp.models.base import ActiveStatus
from crmApp.services.events import event_record_for

ALREADY_TERMINATED = "Employee is already terminated."
BEFORE_HIRE = "The termination date cannot be before the hire date."


@transaction.atomic
def employee_terminate(
    *, employee: Employee, termination_date: date | None = None, actor: User | None = None
) -> Employee:
    """End an employment: status `inactive` and a termination date (today in UTC by default).

    The row is locked before the "already terminated" check so two concurrent calls cannot both
    pass it: the second waits, then sees the first one's result and is refused. Terminating twice
    would otherwise silently move the recorded date.
    """
    locked = Employee.objects.select_for_update().get(pk=employee.pk)
    if locked.status == ActiveStatus.INACTIVE and locked.termination_date is not None:
        raise ValidationError({"non_field_errors": [ALREADY_TERMINATED]})
    effective = termination_date or timezone.now().date()
    if locked.hire_date is not None and effective < locked.hire_date:
        raise ValidationError({"termination_date": [BEFORE_HIRE]})
    locked.status = ActiveStatus.INACTIVE
    locked.termination_date = effective
    locked.save(update_fields=["status", "termination_date", "updated_at"])
    event_record_for(locked, "employee.updated", actor=actor)
    return locked
