"""A record's timeline: its activities, audit rows and (deals) stage changes, newest first.

The three sources live in three tables, so the page is a keyset merge: each source reads at
most `size + 1` rows after the cursor, in its own index order, with its actor joined; the
union of those is sorted by (time, kind, id) descending and cut at `size`. Every entry on the
page is among its source's first `size + 1` rows after the cursor, so the page is exact, and a
page costs one query per source whatever its size (three at most, none for the actors).
The cursor is the (time, kind, id) of the last entry served; the next page starts below it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, Q, QuerySet

from crmApp.db import prepared_statements
from crmApp.models import Activity, AuditEvent, Customer, Deal, DealStageHistory, Lead

ACTIVITY, AUDIT, STAGE_CHANGE = "activity", "audit", "stage_change"
#: The activity foreign key and audit resource of each record a timeline belongs to.
PARENTS: dict[type[Model], tuple[str, str]] = {
    Customer: ("customer_id", "customer"),
    Lead: ("lead_id", "lead"),
    Deal: ("deal_id", "deal"),
}


@dataclass(frozen=True)
class Position:
    """Where a page starts: strictly below this (time, kind, id)."""

    at: datetime.datetime
    kind: str
    id: int


def _after(position: Position | None, kind: str, time_field: str) -> Q:
    """Rows of source `kind` that sort strictly below `position` (time, kind, id descending)."""
    if position is None:
        return Q()
    if kind < position.kind:  # same time sorts below the cursor: this kind comes later
        return Q(**{f"{time_field}__lte": position.at})
    if kind > position.kind:
        return Q(**{f"{time_field}__lt": position.at})
    return Q(**{f"{time_field}__lt": position.at}) | Q(
        **{time_field: position.at, "id__lt": position.id}
    )


def _actor(row: dict, prefix: str) -> dict | None:
    if row[f"{prefix}_id"] is None:
        return None
    first, last = row[f"{prefix}__first_name"], row[f"{prefix}__last_name"]
    return {
        "id": row[f"{prefix}_id"],
        "email": row[f"{prefix}__email"],
        "name": f"{first} {last}".strip() or row[f"{prefix}__username"],
    }


def _actor_columns(prefix: str) -> list[str]:
    return [
        f"{prefix}_id",
        *(f"{prefix}__{c}" for c in ("email", "first_name", "last_name", "username")),
    ]


def _page(queryset: QuerySet, position: Position | None, kind: str, time_field: str, size: int):
    return list(
        queryset.filter(_after(position, kind, time_field)).order_by(f"-{time_field}", "-id")[
            : size + 1
        ]
    )


def _activities(parent_field: str, record_id: int, position, size: int) -> list[dict[str, Any]]:
    rows = _page(
        Activity.objects.filter(**{parent_field: record_id}).values(
            "id",
            "type",
            "subject",
            "body",
            "due_at",
            "completed_at",
            "assignee_id",
            "assignee__first_name",
            "assignee__last_name",
            "created_at",
            *_actor_columns("created_by"),
        ),
        position,
        ACTIVITY,
        "created_at",
        size,
    )
    return [
        {
            "kind": ACTIVITY,
            "id": row["id"],
            "at": row["created_at"],
            "actor": _actor(row, "created_by"),
            "data": {
                "type": row["type"],
                "subject": row["subject"],
                "body": row["body"],
                "due_at": row["due_at"],
                "completed_at": row["completed_at"],
                "assignee_id": row["assignee_id"],
                "assignee_name": (
                    f"{row['assignee__first_name']} {row['assignee__last_name']}"
                    if row["assignee_id"] is not None
                    else None
                ),
            },
        }
        for row in rows
    ]


def _audit(
    organization_id: int, resource: str, record_id: int, position, size: int
) -> list[dict[str, Any]]:
    rows = _page(
        AuditEvent.objects.filter(
            organization_id=organization_id, resource=resource, record_id=record_id
        ).values("id", "action", "changes", "request_id", "created_at", *_actor_columns("actor")),
        position,
        AUDIT,
        "created_at",
        size,
    )
    return [
        {
            "kind": AUDIT,
            "id": row["id"],
            "at": row["created_at"],
            "actor": _actor(row, "actor"),
            "data": {
                "action": row["action"],
                "changes": row["changes"],
                "request_id": row["request_id"],
            },
        }
        for row in rows
    ]


def _stage_changes(deal_id: int, position, size: int) -> list[dict[str, Any]]:
    rows = _page(
        DealStageHistory.objects.filter(deal_id=deal_id).values(
            "id",
            "stage_id",
            "stage__name",
            "outcome",
            "entered_at",
            "left_at",
            *_actor_columns("actor"),
        ),
        position,
        STAGE_CHANGE,
        "entered_at",
        size,
    )
    return [
        {
            "kind": STAGE_CHANGE,
            "id": row["id"],
            "at": row["entered_at"],
            "actor": _actor(row, "actor"),
            "data": {
                "stage_id": row["stage_id"],
                "stage_name": row["stage__name"],
                "outcome": row["outcome"],
                "left_at": row["left_at"],
            },
        }
        for row in rows
    ]


def sort_key(entry: dict[str, Any]) -> tuple:
    return (entry["at"], entry["kind"], entry["id"])


def timeline_page(
    record: Customer | Lead | Deal, *, position: Position | None, size: int, with_audit: bool
) -> tuple[list[dict[str, Any]], Position | None]:
    """One page of `record`'s timeline below `position`, and where the next page starts (None
    at the end). Audit rows are included only `with_audit` (the caller holds audit:view)."""
    parent_field, resource = PARENTS[type(record)]
    # Each source reads one record's rows in its index order: the plan is the same whatever
    # the values, so the three reads run as prepared statements (planned once per connection).
    with prepared_statements():
        entries = _activities(parent_field, record.pk, position, size)
        if with_audit:
            entries += _audit(record.organization_id, resource, record.pk, position, size)
        if isinstance(record, Deal):
            entries += _stage_changes(record.pk, position, size)
    entries.sort(key=sort_key, reverse=True)
    if len(entries) <= size:
        return entries, None
    page = entries[:size]
    last = page[-1]
    return page, Position(at=last["at"], kind=last["kind"], id=last["id"])
