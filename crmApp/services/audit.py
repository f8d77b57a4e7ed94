"""The audit log: one row per write, in the write's own transaction.

`event_record_for` (crmApp.services.events) calls `audit_record` for every change that records a
domain event, and `services/records.py` for the plain writes of models without one; the other
services that write (pipelines, webhooks, memberships, grants) call it themselves. Each write
therefore costs exactly one more INSERT (a bulk write, one bulk INSERT), sent with the write's
event inside `event_record_for`'s `statement_batch` (one statement on PostgreSQL), and a
rolled-back write leaves no audit row.

Old values come from the instance the service already holds (`audit_values` before it changes
it), never from an extra SELECT. Secret fields never reach a row: a deny-list per model and a
rule on field names (`SECRET_NAME`), checked for every model by a test.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from crmApp.context import current_request_id
from crmApp.db import insert_columns
from crmApp.models import AuditEvent, User
from crmApp.models.base import organization_id_of
from crmApp.selectors.counting import shared_cache, tenant_version_key
from crmApp.services.batch import batch_insert

#: A field whose name matches is never recorded, whatever its model (passwords, tokens, secrets,
#: their hashes, refresh token ids).
SECRET_NAME = re.compile(r"password|token|secret|hash|jti|api_?key", re.IGNORECASE)
#: Fields never recorded per model (model label -> field names), beyond the name rule.
EXCLUDED_FIELDS: dict[str, frozenset[str]] = {
    "crmApp.User": frozenset({"password", "two_factor_secret", "email_key", "username_key"}),
    "crmApp.WebhookEndpoint": frozenset({"secret"}),
    "crmApp.Invitation": frozenset({"token_hash"}),
    "crmApp.UserSession": frozenset({"refresh_jti", "access_jti"}),
}
#: Bookkeeping that changes on every write and says nothing a row's own time does not.
NOISE_FIELDS = frozenset({"updated_at"})
#: Audit resource names of models whose model name reads badly (the rest use their event
#: resource, else their model name).
RESOURCE_NAMES: dict[str, str] = {
    "crmApp.UserOrganization": "membership",
    "crmApp.UserRole": "user_role",
    "crmApp.RolePermission": "role_permission",
    "crmApp.PipelineStage": "pipeline_stage",
    "crmApp.WebhookEndpoint": "webhook",
    "crmApp.ImportJob": "import",
}

_FIELDS: dict[type, tuple[str, ...]] = {}


def audited_fields(model: type[models.Model]) -> tuple[str, ...]:
    """The attribute names (`<fk>_id` for foreign keys) of `model` an audit row may record."""
    fields = _FIELDS.get(model)
    if fields is None:
        excluded = EXCLUDED_FIELDS.get(model._meta.label, frozenset())
        fields = _FIELDS[model] = tuple(
            field.attname
            for field in model._meta.concrete_fields
            if field.name not in excluded
            and field.attname not in excluded
            and field.name not in NOISE_FIELDS
            and not SECRET_NAME.search(field.name)
            and not field.primary_key
        )
    return fields


def audit_resource(model: type[models.Model]) -> str:
    return (
        RESOURCE_NAMES.get(model._meta.label)
        or getattr(model, "EVENT_RESOURCE", None)
        or model._meta.model_name
        or model.__name__.lower()
    )


#: Values that JSON gives back exactly as they went in (exact types: a str or int subclass,
#: such as a choices enum member, comes back as a plain str or int, so it takes the long way).
_JSON_NATIVE = frozenset({str, int, bool, float, type(None)})
#: Values DjangoJSONEncoder writes as a string (which JSON then gives back as it is).
_JSON_AS_TEXT = frozenset({datetime, date, time, timedelta, Decimal, UUID})
_ENCODER = DjangoJSONEncoder()


def json_value(value: Any) -> Any:
    """`value` as it reads back from JSON written with DjangoJSONEncoder: dates and times as ISO
    strings, decimals and UUIDs as strings, tuples as lists.

    The same as `json.loads(json.dumps(value, cls=DjangoJSONEncoder))` without writing and
    parsing text for the common kinds of values (a snapshot or audit row is taken for every row
    an import writes); anything else still makes that round trip.
    """
    kind = type(value)
    if kind in _JSON_NATIVE:
        return value
    if kind in _JSON_AS_TEXT:
        return _ENCODER.default(value)
    if kind is list or kind is tuple:
        return [json_value(item) for item in value]
    if kind is dict and all(type(key) is str for key in value):
        return {key: json_value(item) for key, item in value.items()}
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def json_values(values: dict[str, Any]) -> dict[str, Any]:
    """`json_value` of each value of `values` (string keys)."""
    return {name: json_value(value) for name, value in values.items()}


def audit_values(instance: models.Model) -> dict[str, Any]:
    """The audited fields `instance` holds in memory, as JSON values (no query: a deferred
    field is simply left out)."""
    loaded = instance.__dict__
    return json_values(
        {name: loaded[name] for name in audited_fields(type(instance)) if name in loaded}
    )


def audit_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`{field: {"old", "new"}}` for the fields whose value differs (a missing side is None)."""
    return {
        name: {"old": before.get(name), "new": after.get(name)}
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    }


def _actor_id(actor) -> int | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return actor.pk


def _row(
    instance: models.Model,
    action: str,
    *,
    actor: User | None,
    before: dict[str, Any] | None,
    organization_id: int | None = None,
    after: dict[str, Any] | None = None,
    actor_id: int | None = None,
) -> dict[str, Any]:
    """The values of an audit row (all but its id and creation time)."""
    if after is not None:
        before = before or {}
    elif action == "deleted":
        before, after = (before if before is not None else audit_values(instance)), {}
    elif action == "created":
        before, after = {}, audit_values(instance)
    else:
        after = audit_values(instance)
    changes = audit_changes(before, after) if before is not None else {}
    organization_id = organization_id or organization_id_of(instance)
    if organization_id is None:
        raise ValueError(f"audit {action!r}: {instance!r} belongs to no organization")
    return {
        "organization_id": organization_id,
        "actor_id": actor_id if actor_id is not None else _actor_id(actor),
        "request_id": current_request_id.get(),
        "action": action,
        "resource": audit_resource(type(instance)),
        "record_id": instance.pk,
        "changes": changes,
    }


def audit_record(
    instance: models.Model,
    action: str,
    *,
    actor: User | None,
    before: dict[str, Any] | None = None,
    organization_id: int | None = None,
    after: dict[str, Any] | None = None,
    actor_id: int | None = None,
) -> AuditEvent:
    """Insert the audit row of one write of `instance` (one INSERT, in the caller's transaction).

    `action` is the verb (`created`, `updated`, `deleted`, `won`, `converted` ...). `before` is
    `audit_values(instance)` taken before the change: the row records the fields that differ
    now. A create records every value as new, a delete every value as old (call it before the
    row is deleted). Without `before`, another action records no field changes. `after`
    replaces the instance's values for a change that is not in its own columns (a role's
    grants); `actor_id` names the actor when only its id is at hand.
    """
    row = AuditEvent(
        **_row(
            instance,
            action,
            actor=actor,
            before=before,
            organization_id=organization_id,
            after=after,
            actor_id=actor_id,
        )
    )
    tenant_versions_renewed_after_commit([row.organization_id])
    return batch_insert(row)


def audit_record_many(
    instances: Iterable[models.Model],
    action: str,
    *,
    actor: User | None,
    befores: Iterable[dict[str, Any] | None] | None = None,
    afters: Iterable[dict[str, Any]] | None = None,
) -> int:
    """`audit_record` for the rows of one bulk write, in one INSERT (deletes record each row's
    old values; `befores`, one per instance in order, gives an update's changed fields); the
    number of rows. Written column by column (`insert_columns`): an import audits every row
    it writes. `afters`, one per instance, are their `audit_values` when the caller already
    has them (a bulk create takes them from the events' snapshots)."""
    instances = list(instances)
    olds = list(befores) if befores is not None else [None] * len(instances)
    news = list(afters) if afters is not None else [None] * len(instances)
    columns: dict[str, list[Any]] = {name: [] for name in _AUDIT_COLUMNS}
    for instance, before, after in zip(instances, olds, news, strict=True):
        row = _row(instance, action, actor=actor, before=before, after=after)
        for name, value in row.items():
            columns[name].append(value)
        columns["created_at"].append(timezone.now())  # the field's default, per row
    insert_columns(AuditEvent, columns)
    tenant_versions_renewed_after_commit(columns["organization_id"])
    return len(instances)


def tenant_versions_renewed_after_commit(organization_ids: Iterable[int | None]) -> None:
    """After the transaction commits, replace the versions of the organizations it wrote to,
    so figures cached under them (`counting.cached_figures`) are computed again.

    Here because every service write is audited: what the audit sees written is what the
    versions must follow. One renewal per transaction whatever the number of writes; a
    rolled-back transaction renews nothing (Django drops its callbacks with it), and a renewal
    that finds Redis down is lost, which leaves cached figures at most their lifetime old.
    """
    changed = {pk for pk in organization_ids if pk is not None}
    if not changed:
        return
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        for entry in connection.run_on_commit:
            if isinstance(entry[1], _VersionsRenewal):
                entry[1].organization_ids.update(changed)
                return
    transaction.on_commit(_VersionsRenewal(changed), robust=True)


class _VersionsRenewal:
    """The on-commit callback of one transaction, with the organizations it wrote to."""

    def __init__(self, organization_ids: set[int]):
        self.organization_ids = organization_ids

    def __call__(self) -> None:
        """New version tokens: nothing cached under the old ones is read again. Without
        Redis no versions are kept, so there is nothing to renew."""
        backend = shared_cache()
        if backend is not None:
            backend.set_many(
                {tenant_version_key(pk): secrets.token_hex(8) for pk in self.organization_ids},
                timeout=None,
            )


_AUDIT_COLUMNS = (
    "organization_id",
    "actor_id",
    "request_id",
    "action",
    "resource",
    "record_id",
    "changes",
    "created_at",
)


def audit_purge(*, now=None, batch: int = 10_000) -> int:
    """Delete the audit rows older than `AUDIT_RETENTION_DAYS`, in batches; the rows deleted.

    Batches keep each DELETE short, so the purge never holds locks on a big table for long.
    """
    days = settings.AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            AuditEvent.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return deleted
        deleted += AuditEvent.objects.filter(pk__in=ids).delete()[0]
