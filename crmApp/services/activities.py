"""Activity writes: create, update, delete, complete and reopen.

The plain writes go through `services/records.py` (event and audit row in the same
transaction). Completing and reopening lock the row, so two concurrent calls cannot both see it
open (or done). A task given to a new assignee queues the assignment mail after the commit.
"""

from typing import Any

from django.db import transaction
from django.utils import timezone

from crmApp.models import Activity, Organization, User
from crmApp.services.audit import audit_values
from crmApp.services.events import event_record_for
from crmApp.services.notifications import assignment_notice_queue
from crmApp.services.records import record_create, record_delete, record_update


def _notify_if_assigned(activity: Activity, *, previous_assignee_id: int | None) -> None:
    if (
        activity.type == Activity.Type.TASK
        and activity.assignee_id is not None
        and activity.assignee_id != previous_assignee_id
        and activity.completed_at is None
    ):
        assignment_notice_queue("activity", activity.pk)


@transaction.atomic(savepoint=False)
def activity_create(*, actor: User | None, organization: Organization, **fields: Any) -> Activity:
    created_by = actor if actor is not None and actor.is_authenticated else None
    activity = record_create(
        Activity, actor=actor, organization=organization, created_by=created_by, **fields
    )
    _notify_if_assigned(activity, previous_assignee_id=None)
    return activity


@transaction.atomic(savepoint=False)
def activity_update(*, activity: Activity, actor: User | None, **changes: Any) -> Activity:
    previous_assignee_id = activity.assignee_id
    activity = record_update(activity, actor=actor, **changes)
    _notify_if_assigned(activity, previous_assignee_id=previous_assignee_id)
    return activity


@transaction.atomic(savepoint=False)
def activity_delete(*, activity: Activity, actor: User | None) -> None:
    record_delete(activity, actor=actor)


def _locked(activity: Activity) -> Activity:
    """The activity's row locked, with its assignee for the answer. Only the activity's own row
    is locked (`of`): PostgreSQL refuses FOR UPDATE on the nullable side of the assignee join."""
    return (
        Activity.objects.select_for_update(of=("self",))
        .select_related("assignee")
        .get(pk=activity.pk)
    )


@transaction.atomic
def activity_complete(*, activity: Activity, actor: User | None) -> Activity:
    """Mark an activity done now; completing a done one changes nothing (and records nothing)."""
    locked = _locked(activity)
    if locked.completed_at is not None:
        return locked
    before = audit_values(locked)
    locked.completed_at = timezone.now()
    locked.save(update_fields=["completed_at", "updated_at"])
    event_record_for(locked, "activity.completed", actor=actor, before=before)
    return locked


@transaction.atomic
def activity_reopen(*, activity: Activity, actor: User | None) -> Activity:
    """Mark a done activity open again; reopening an open one changes nothing."""
    locked = _locked(activity)
    if locked.completed_at is None:
        return locked
    before = audit_values(locked)
    locked.completed_at = None
    locked.save(update_fields=["completed_at", "updated_at"])
    event_record_for(locked, "activity.updated", actor=actor, before=before)
    return locked
