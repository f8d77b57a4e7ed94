"""Activity reads: detail joins, the caller's open tasks, figures."""

from __future__ import annotations

import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crmApp.models import Activity
from crmApp.selectors.base import ResourceSelector

#: Rows of the per-assignee figures (the busiest first).
MAX_ASSIGNEES = 100


def week_start(now: datetime.datetime) -> datetime.datetime:
    """Monday 00:00 UTC of `now`'s week."""
    today = now.astimezone(datetime.UTC).date()
    monday = today - datetime.timedelta(days=today.weekday())
    return datetime.datetime.combine(monday, datetime.time.min, tzinfo=datetime.UTC)


class ActivitySelector(ResourceSelector):
    model = Activity
    plain_actions = frozenset({"stats"})

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("assignee")

    def my_tasks(self, queryset: QuerySet[Activity], *, user_id: int) -> QuerySet[Activity]:
        """Open tasks assigned to any employee record of the user, soonest due first."""
        return (
            queryset.filter(
                type=Activity.Type.TASK, completed_at__isnull=True, assignee__user_id=user_id
            )
            .select_related("assignee")
            .order_by("due_at", "id")
        )

    def stats(self, queryset: QuerySet[Activity]) -> dict:
        """Open tasks, overdue ones and those done this week, overall (one aggregate) and per
        assignee (one grouped query)."""
        now = timezone.now()
        tasks = queryset.order_by().filter(type=Activity.Type.TASK)
        open_q = Q(completed_at__isnull=True)
        overdue_q = Q(completed_at__isnull=True, due_at__lt=now)
        done_q = Q(completed_at__gte=week_start(now))
        figures = tasks.aggregate(
            open_tasks=Count("id", filter=open_q),
            overdue=Count("id", filter=overdue_q),
            done_this_week=Count("id", filter=done_q),
        )
        per_assignee = (
            tasks.filter(assignee__isnull=False)
            .values("assignee_id", "assignee__first_name", "assignee__last_name")
            .annotate(
                open_tasks=Count("id", filter=open_q),
                overdue=Count("id", filter=overdue_q),
                done_this_week=Count("id", filter=done_q),
            )
            .order_by("-open_tasks", "assignee_id")[:MAX_ASSIGNEES]
        )
        return {
            **figures,
            "by_assignee": [
                {
                    "assignee_id": row["assignee_id"],
                    "assignee_name": f"{row['assignee__first_name']} {row['assignee__last_name']}",
                    "open_tasks": row["open_tasks"],
                    "overdue": row["overdue"],
                    "done_this_week": row["done_this_week"],
                }
                for row in per_assignee
            ],
        }
