"""The plain create, update and delete of a tenant record, shared by the resources' services.

Each resource's service (`customer_create`, `lead_update`, ...) is the public write path and
names its entity; this module holds the steps they share, so that what every write does (and
later, what it records) is written once. Callers pass validated, same-organization values.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model

from crmApp.models import User

M = TypeVar("M", bound=Model)


def record_create(model: type[M], *, actor: User | None, **fields: Any) -> M:
    """Insert one row of `model` with `fields`."""
    instance = model(**fields)
    instance.save()
    return instance


def record_update(instance: M, *, actor: User | None, **changes: Any) -> M:
    """Apply `changes` to `instance` and save every column (what the form validated)."""
    for name, value in changes.items():
        setattr(instance, name, value)
    instance.save()
    return instance


def record_delete(instance: Model, *, actor: User | None) -> None:
    """Delete one row (and what cascades from it)."""
    instance.delete()


def records_delete(model: type[Model], *, ids: list[int], actor: User | None) -> int:
    """Delete the rows of `model` with `ids` in one statement per table; the number deleted."""
    return model._default_manager.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)
