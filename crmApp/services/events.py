"""Recording domain events in the transactional outbox.

A service calls `event_record` (or `event_record_for`) inside the transaction of the change it
describes: the event row commits with the change or not at all, so a rolled-back change emits
nothing and a committed one can never lose its event. Delivery to consumers happens later
(crmApp.services.outbox), nudged once per transaction right after it commits.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from crmApp.context import current_request_id
from crmApp.models import Event
from crmApp.models.base import organization_id_of
from crmApp.models.events import EVENT_TYPES
from crmApp.services.audit import audit_record
from crmApp.services.batch import batch_insert, statement_batch

_KNOWN_TYPES = frozenset(EVENT_TYPES)
#: Fields never copied into a snapshot (events are readable by every holder of events:view).
SECRET_FIELDS = frozenset({"password", "token", "token_hash"})


def snapshot_of(instance: models.Model) -> dict[str, Any]:
    """The concrete fields of `instance` as plain JSON values (foreign keys as `<name>_id`).

    Taken through DjangoJSONEncoder so dates, decimals and UUIDs become the strings the API
    shows, and the snapshot reads back exactly as it was written on every database.
    """
    values = {
        field.attname: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.name not in SECRET_FIELDS
    }
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def _actor_id(actor) -> int | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return actor.pk


def event_record(
    *,
    organization_id: int,
    type: str,
    resource: str,
    resource_id: int,
    actor=None,
    snapshot: dict | None = None,
) -> Event:
    """Write one event row in the caller's transaction; dispatch is nudged after commit.

    One INSERT, so it needs no transaction of its own (no savepoint per event); callers run it
    inside the atomic block of their change. Unknown types are a programming error (ValueError),
    caught by the first test that takes the path, rather than events no consumer expects.
    """
    if type not in _KNOWN_TYPES or not type.startswith(f"{resource}."):
        raise ValueError(f"unknown event type {type!r} for resource {resource!r}")
    event = Event(
        organization_id=organization_id,
        type=type,
        resource=resource,
        resource_id=resource_id,
        actor_id=_actor_id(actor),
        request_id=current_request_id.get(),
        snapshot=snapshot if snapshot is not None else {},
    )
    batch_insert(event)
    _nudge_after_commit()
    return event


def event_record_for(
    instance: models.Model,
    type: str,
    *,
    actor=None,
    extra: dict | None = None,
    before: dict | None = None,
    audit: bool = True,
) -> Event:
    """`event_record` for a tenant row: organization, resource id and snapshot come from it.

    The resource is the type's prefix (`"customer.created"` -> `customer`); `extra` adds keys to
    the snapshot (e.g. the customer a lead became). The change is audited here too (the type's
    verb as the action; `before`, the row's `audit_values` before the change, gives the changed
    fields), so every write that records an event is audited once; the event and its audit row
    go to the database as one statement (`statement_batch`). A bulk write passes `audit=False`
    and audits its rows in one statement.
    """
    organization_id = organization_id_of(instance)
    if organization_id is None:
        raise ValueError(f"{type!r}: {instance!r} belongs to no organization")
    snapshot = snapshot_of(instance)
    if extra:
        snapshot.update(json.loads(json.dumps(extra, cls=DjangoJSONEncoder)))
    with statement_batch():  # the event and its audit row in one statement
        if audit:
            audit_record(
                instance,
                type.split(".", 1)[1],
                actor=actor,
                before=before,
                organization_id=organization_id,
            )
        return event_record(
            organization_id=organization_id,
            type=type,
            resource=type.split(".", 1)[0],
            resource_id=instance.pk,
            actor=actor,
            snapshot=snapshot,
        )


def events_record_many(instances: list[models.Model], type: str, *, actor=None) -> list[Event]:
    """`event_record_for` for many rows of one kind in one INSERT (imports write in batches)."""
    if type not in _KNOWN_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    resource = type.split(".", 1)[0]
    request_id = current_request_id.get()
    rows = []
    for instance in instances:
        organization_id = organization_id_of(instance)
        if organization_id is None:
            raise ValueError(f"{type!r}: {instance!r} belongs to no organization")
        rows.append(
            Event(
                organization_id=organization_id,
                type=type,
                resource=resource,
                resource_id=instance.pk,
                actor_id=_actor_id(actor),
                request_id=request_id,
                snapshot=snapshot_of(instance),
            )
        )
    created = Event.objects.bulk_create(rows)
    if created:
        _nudge_after_commit()
    return created


def _nudge_after_commit() -> None:
    """Ask for a dispatch once per transaction, however many events it records.

    A bulk change records hundreds of events; one dispatch handles them all. Callbacks of a
    rolled-back savepoint are dropped by Django, so a nudge never outlives its events.
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(entry[1] is _nudge for entry in connection.run_on_commit):
        return
    transaction.on_commit(_nudge, robust=True)


def _nudge() -> None:
    from crmApp.tasks import outbox_dispatch, publish

    publish(outbox_dispatch, queue="default")
