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

from django.db import transaction
from django.db.models import Field, Model
from django.utils import timezone

from crmApp.db import bulk_binding
from crmApp.models import User, next_codes
from crmApp.services.attachments import attachment_blobs_forget
from crmApp.services.audit import (
    audit_record,
    audit_record_many,
    audit_values,
    audited_fields,
    json_values,
)
from crmApp.services.events import event_record_for, events_record_many, snapshot_of
from crmApp.services.stage_tallies import stage_tallies_kept, stage_tallies_kept_on_save

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


@transaction.atomic(savepoint=False)
def record_save(instance: M, *, actor: User | None, before: dict[str, Any] | None) -> M:
    """Save `instance` as a form already changed it in place (the Django admin's forms), with
    the event and audit row `record_create` or `record_update` would record: `before` is its
    `audit_values` from before the form ran, None for a new row. The row is read back after
    the save: form values are typed as typed (`"20"` for a stored `20.00`), and the audit row
    records what the database now holds. A stage-history row saved so keeps the funnel's
    tallies (`stage_tallies_kept_on_save`)."""
    with stage_tallies_kept_on_save(instance):
        instance.save()
    instance.refresh_from_db()
    _record_event(instance, "created" if before is None else "updated", actor=actor, before=before)
    return instance


def record_delete(instance: Model, *, actor: User | None) -> None:
    """Delete one row (and what cascades from it); its event keeps the last snapshot."""
    _record_event(instance, "deleted", actor=actor)
    attachment_blobs_forget(type(instance), [instance.pk])
    with stage_tallies_kept(type(instance), [instance.pk]):
        instance.delete()


def records_delete(model: type[Model], *, ids: list[int], actor: User | None) -> int:
    """Delete the rows of `model` with `ids` in one statement per table; the number deleted.

    The rows' `deleted` events and audit rows are recorded first, from the rows as they were, in
    one bulk INSERT each.
    """
    rows = model._default_manager.filter(pk__in=ids)
    doomed = list(rows.order_by("pk"))
    _record_events(model, doomed, "deleted", actor=actor)
    attachment_blobs_forget(model, ids)
    with stage_tallies_kept(model, ids):
        deleted = rows.delete()[1].get(model._meta.label, 0)
    return deleted


def records_create_many(
    model: type[M],
    *,
    organization_id: int,
    rows: list[dict[str, Any]],
    actor: User | None,
    codes: list[str] | None = None,
) -> list[M]:
    """Insert many rows of one organization at once: what `record_create` does per row (codes,
    timestamps, one `created` event and audit row each) in a fixed number of statements.

    For imports, whose rows were each validated by the resource's form. The codes are
    `codes` when the caller reserved them (an import batch does, before its transaction), else
    reserved here in one block from the counter row, exactly as single creates take theirs;
    that row then stays locked until the caller's transaction ends, so the events' snapshots
    (and the audit rows' values, the same fields) are taken before the codes are, and only the
    fields the insert sets (`inserted_fields`) are read again after it.
    """
    instances = [model(organization_id=organization_id, **fields) for fields in rows]
    if not instances:
        return []
    resource = getattr(model, "EVENT_RESOURCE", None)
    snapshots = [snapshot_of(instance) for instance in instances] if resource else None
    prefix = getattr(model, "CODE_PREFIX", "")
    if prefix:
        if codes is None:
            codes = next_codes(organization_id=organization_id, prefix=prefix, count=len(instances))
        for instance, code in zip(instances, codes, strict=True):
            instance.code = code  # type: ignore[attr-defined]
    with bulk_binding():
        created = model._default_manager.bulk_create(instances)
    if snapshots is None:
        audit_record_many(created, "created", actor=actor)
        return created
    # Only the snapshot's own keys: a field a snapshot leaves out (a secret) stays out.
    changed = [name for name in inserted_fields(model) if name in snapshots[0]]
    for instance, snapshot in zip(created, snapshots, strict=True):
        snapshot.update(json_values({name: getattr(instance, name) for name in changed}))
    events_record_many(created, f"{resource}.created", actor=actor, snapshots=snapshots)
    audited = audited_fields(model)
    afters = [
        {name: snapshot[name] for name in audited if name in snapshot} for snapshot in snapshots
    ]
    audit_record_many(created, "created", actor=actor, afters=afters)
    return created


def inserted_fields(model: type[Model]) -> list[str]:
    """The attributes a bulk insert may set on a new instance of `model` (its code included):
    the primary key, the values the database returns, and those of fields with their own
    `pre_save` (dates and times, `auto_now` among them). Every other value is stored as it was
    before the insert."""
    names = [
        field.attname
        for field in model._meta.concrete_fields
        if field.primary_key
        or getattr(field, "db_returning", False)
        or type(field).pre_save is not Field.pre_save
    ]
    if getattr(model, "CODE_PREFIX", "") and "code" not in names:
        names.append("code")
    return names


def records_update_many(
    model: type[M], *, changes: list[tuple[M, dict[str, Any]]], actor: User | None
) -> list[M]:
    """Apply each row's validated `changes` in one UPDATE per batch (`bulk_update`), with one
    `updated` event per row, as `record_update` would one by one."""
    if not changes:
        return []
    now = timezone.now()
    fields = {"updated_at"}
    instances = []
    befores = [audit_values(instance) for instance, _ in changes]
    for instance, values in changes:
        for name, value in values.items():
            setattr(instance, name, value)
            fields.add(model._meta.get_field(name).name)
        instance.updated_at = now  # type: ignore[attr-defined]
        instances.append(instance)
    model._default_manager.bulk_update(instances, sorted(fields))
    _record_events(model, instances, "updated", actor=actor, befores=befores)
    return instances


def _record_events(
    model: type[Model],
    instances: list,
    verb: str,
    *,
    actor: User | None,
    befores: list[dict[str, Any]] | None = None,
) -> None:
    """The bulk form of `_record_event`: one INSERT for the events (models with events), one for
    the audit rows (`befores`: each row's `audit_values` before an update, in order)."""
    resource = getattr(model, "EVENT_RESOURCE", None)
    if resource is not None:
        events_record_many(instances, f"{resource}.{verb}", actor=actor)
    audit_record_many(instances, verb, actor=actor, befores=befores)
