"""Notification mail: the assignment notice and the daily digest of due and overdue tasks.

Both leave only from tasks on the `email` queue (crmApp.tasks), never from a request, and both
honour the recipient's preferences (`User.notify_assignments`, `User.notify_digest`), read when
the mail is about to go, so a preference switched off after the assignment still counts.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from crmApp.models import Activity, Deal, Employee, User
from crmApp.services.mail import email_send

#: At most this many tasks are listed per digest (the rest are counted).
DIGEST_MAX_TASKS = 50


def assignment_notice_queue(kind: str, object_id: int) -> None:
    """Queue the assignment mail of an activity or a deal once the transaction commits."""
    from crmApp.tasks import assignment_email_send, enqueue

    enqueue(assignment_email_send, kind, object_id, queue="email")


def _assignee_user(employee: Employee | None) -> User | None:
    if employee is None:
        return None
    user = employee.user
    if user is None or not user.is_active or not user.email or not user.notify_assignments:
        return None
    return user


def assignment_email_send(*, kind: str, object_id: int) -> bool:
    """Mail the assignee of task or deal `object_id` (when they want it); True when sent."""
    record: Activity | Deal | None
    assignee: Employee | None = None
    title = ""
    if kind == "activity":
        record = (
            Activity.objects.select_related("assignee__user", "organization")
            .filter(pk=object_id, completed_at__isnull=True)
            .first()
        )
        if record is not None:
            assignee, title = record.assignee, record.subject
    elif kind == "deal":
        record = (
            Deal.objects.select_related("assigned_to__user", "organization")
            .filter(pk=object_id)
            .first()
        )
        if record is not None:
            assignee, title = record.assigned_to, record.title
    else:
        raise ValueError(f"unknown assignment kind {kind!r}")
    user = _assignee_user(assignee)
    if record is None or user is None:
        return False
    email_send(
        to=[user.email],
        template="assignment",
        context={
            "user": user,
            "kind": "task" if kind == "activity" else "deal",
            "title": title,
            "record": record,
            "organization": record.organization,
        },
        headers={"X-CRM-Assignment": f"{kind}:{object_id}"},
    )
    return True


def _end_of_day(now: datetime.datetime) -> datetime.datetime:
    day = now.astimezone(datetime.UTC).date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)


def digest_send_all(*, now: datetime.datetime | None = None) -> int:
    """Mail each user who wants it the open tasks due today (UTC) or earlier; the mails sent.

    One query reads every such task with its assignee's user; the tasks are grouped per user
    in Python. A user without due tasks gets no mail.
    """
    now = now or timezone.now()
    tasks = (
        Activity.objects.filter(
            Q(type=Activity.Type.TASK, completed_at__isnull=True, due_at__lt=_end_of_day(now))
            & Q(
                assignee__user__is_active=True,
                assignee__user__notify_digest=True,
                assignee__user__isnull=False,
            )
        )
        .exclude(assignee__user__email="")
        .select_related("assignee__user", "organization")
        .order_by("assignee__user_id", "due_at", "id")
    )
    per_user: dict[int, list[Activity]] = defaultdict(list)
    users: dict[int, User] = {}
    for task in tasks.iterator(chunk_size=2000):
        assignee = task.assignee
        user = assignee.user if assignee is not None else None
        if user is None:  # excluded by the filter; keeps the type checker informed
            continue
        users[user.pk] = user
        per_user[user.pk].append(task)
    for user_id, user_tasks in per_user.items():
        overdue = [task for task in user_tasks if task.due_at and task.due_at < now]
        email_send(
            to=[users[user_id].email],
            template="task_digest",
            context={
                "user": users[user_id],
                "tasks": user_tasks[:DIGEST_MAX_TASKS],
                "more": max(0, len(user_tasks) - DIGEST_MAX_TASKS),
                "overdue_count": len(overdue),
                "due_count": len(user_tasks) - len(overdue),
                "frontend_url": settings.FRONTEND_URL,
            },
            headers={"X-CRM-Digest": now.date().isoformat()},
        )
    return len(per_user)
