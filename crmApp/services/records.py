"""The plain create, update and delete of a tenant record, shared by the resources' services.

Each resource's service (`customer_create`, `lead_update`, ...) is the public write path and
names its entity; this module holds the steps they share, so that what every write does is
written once: the row change, its audit row (crmApp.services.audit) and, for models that declare
an `EVENT_RESOURCE`, its domain event (`<resource>.created|updated|deleted`), all in the same
transaction. Callers pass validated,
same-organization values.

The thin `<entity>_create|update|delete` services run these steps under
`transaction.atomic(savepoint=False)`: inside a request's transaction a savepoint of their own
would cost two round trips per write for nothing, since they raise no refusal of their own and
any database error already ends the whole request's transaction.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model

from crmApp.models import User
from crmApp.services.audit import audit_record, audit_record_many, audit_values
from crmApp.services.events import event_record_for

M = TypeVar("M", bound=Model)


def _record_event(
    instance: Model, verb: str, *, actor: User | None, before: dict | None = None
) -> None:
    """The write's domain event and audit row (the event records both), or the audit row alone
    for models without events."""
    resource = getattr(type(instance), "EVENT_RESOURCE", None)
    if resource is not None:
        event_record_for(instance, f"{resource}.{verb}", actor=actor, before=before)
    else:
        audit_record(instance, verb, actor=actor, before=before)


def record_create(model: type[M], *, actor: User | None, **fields: Any) -> M:
    """Insert one row of `model` with `fields`."""
    instance = model(**fields)
    instance.save()
    _record_event(instance, "created", actor=actor)
    return instance


def record_update(instance: M, *, actor: User | None, **changes: Any) -> M:
    """Apply `changes` to `instance` and save every column (what the form validated)."""
    before = audit_values(instance)
    for name, value in changes.items():
        setattr(instance, name, value)
    instance.save()
    _record_event(instance, "updated", actor=actor, before=before)
    return instance


def record_delete(instance: Model, *, actor: User | None) -> None:
    """Delete one row (and what cascades from it); its event keeps the last snapshot."""
    _record_event(instance, "deleted", actor=actor)
    instance.delete()


def records_delete(model: type[Model], *, ids: list[int], actor: User | None) -> int:
    """Delete the rows of `model` with `ids` in one statement per table; the number deleted.

    Each row's `deleted` event is recorded first, from the row as it was, and their audit rows
    in one bulk INSERT.
    """
    rows = model._default_manager.filter(pk__in=ids)
    doomed = list(rows.order_by("pk"))
    resource = getattr(model, "EVENT_RESOURCE", None)
    if resource is not None:
        for row in doomed:
            event_record_for(row, f"{resource}.deleted", actor=actor, audit=False)
    audit_record_many(doomed, "deleted", actor=actor)
    return rows.delete()[1].get(model._meta.label, 0)
