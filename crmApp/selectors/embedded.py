"""A parent's few related rows read inside the parent's own query, as one JSON value.

`prefetch_related` costs a second statement per read and, in Python, more than the rows it
brings. Where a detail always shows a handful of related rows (a deal's pipeline stages), the
parent's query carries them instead: a correlated subquery aggregates them into a JSON array
(`embedded_rows`, PostgreSQL and SQLite), and `EmbeddedRowsIterable` turns each array back into
model instances and stores them where `prefetch_related` would have (`obj.<relation>.all()`
then reads no query).

The instances are built from the JSON with each field's own `to_python`, so they equal what the
ORM reads: decimals are parsed as decimals and keep their scale, datetimes come back aware (UTC),
booleans stored as 0/1 (SQLite) as booleans (`tests/test_embedded_rows.py` compares them with a
prefetch, field by field, on both databases).
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import DecimalField, Model, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable

#: Where the parent's query leaves the JSON array of an embedded relation.
ANNOTATION_PREFIX = "_embedded_"
#: The attribute of a query naming its embedded relations; on the query, not the queryset,
#: because every queryset clone copies its query whole (`filter`, `get`, `select_for_update`).
EMBEDDED_ATTRIBUTE = "embedded_relations"


#: The JSON functions of each database: an object of the row, the array of those objects.
_JSON_FUNCTIONS = {
    "postgresql": ("JSONB_BUILD_OBJECT", "JSONB_AGG({})::text"),
    "sqlite": ("JSON_OBJECT", "JSON_GROUP_ARRAY({})"),
}


def _column(model: type[Model], name: str) -> str:
    """The column of `model`'s concrete field `name` (its name or attribute name)."""
    field = next(f for f in model._meta.concrete_fields if name in (f.name, f.attname))
    return str(field.column)


@cache
def _embedded_sql(model: type[Model], parent_key: str, outer: str, vendor: str) -> str:
    """The subquery of `embedded_rows`, written once per model and database.

    Built as text rather than as ORM expressions: resolving a JSON object of a dozen columns
    against the outer query cost more per request than the prefetch it replaces.
    """
    build_object, aggregate = _JSON_FUNCTIONS[vendor]
    quote = connection.ops.quote_name
    pairs = ", ".join(
        f"'{field.attname}', e.{quote(str(field.column))}" for field in model._meta.concrete_fields
    )
    column = quote(_column(model, parent_key))
    return (
        f"SELECT {aggregate.format(f'{build_object}({pairs})')} "
        f"FROM {quote(model._meta.db_table)} e WHERE e.{column} = {outer}"
    )


def embedded_rows(model: type[Model], *, parent_key: str, outer_model: type[Model], outer_key: str):
    """The rows of `model` whose `parent_key` equals the outer row's `outer_key`, every concrete
    field, as JSON text (NULL when there are none). The outer row is the query's base table
    (never relabelled: these querysets are read, not nested in other queries)."""
    quote = connection.ops.quote_name
    outer_column = quote(_column(outer_model, outer_key))
    outer = f"{quote(outer_model._meta.db_table)}.{outer_column}"
    return RawSQL(_embedded_sql(model, parent_key, outer, connection.vendor), (), TextField())


def _value(field, raw: Any) -> Any:
    if raw is None:
        return None
    value = field.to_python(raw)
    if isinstance(field, DecimalField) and value is not None:
        return value.quantize(Decimal(1).scaleb(-field.decimal_places))
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)  # SQLite keeps UTC without an offset
    return value


def rows_from_json(model: type[Model], text: str | None, *, ordering: tuple[str, ...]) -> list:
    """Instances of `model` from an `embedded_rows` value, ordered by `ordering` (attribute
    names, ascending): the aggregate promises no order of its own."""
    if text is None:
        return []
    fields = model._meta.concrete_fields
    names = [field.attname for field in fields]
    instances = []
    for row in json.loads(text, parse_float=Decimal):
        values = [_value(field, row[field.attname]) for field in fields]
        instances.append(model.from_db(None, names, values))
    instances.sort(key=lambda instance: tuple(getattr(instance, name) for name in ordering))
    return instances


def store_as_prefetched(obj: Model, relation: str, instances: list) -> None:
    """Leave `instances` where `prefetch_related(relation)` leaves its rows on `obj`."""
    queryset: QuerySet = getattr(obj, relation).all()
    queryset._result_cache = instances
    queryset._prefetch_done = True  # type: ignore[attr-defined]  # what prefetching sets
    cache = obj.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[relation] = queryset


class EmbeddedRowsIterable(ModelIterable):
    """ModelIterable that moves embedded relations into the prefetch cache of the objects
    they belong to. A queryset's query declares them (`EMBEDDED_ATTRIBUTE`: the path of the
    object from the row, the relation's name, its model and ordering), each read by the
    annotation `ANNOTATION_PREFIX + relation`."""

    def __iter__(self):
        specs = getattr(self.queryset.query, EMBEDDED_ATTRIBUTE, ())
        for obj in super().__iter__():
            for path, relation, model, ordering in specs:
                text = obj.__dict__.pop(ANNOTATION_PREFIX + relation, None)
                owner = obj
                for name in path:
                    owner = getattr(owner, name) if owner is not None else None
                if owner is not None:
                    store_as_prefetched(
                        owner, relation, rows_from_json(model, text, ordering=ordering)
                    )
            yield obj


def with_embedded(
    queryset: QuerySet,
    *,
    path: tuple[str, ...],
    relation: str,
    model: type[Model],
    parent_key: str,
    outer_key: str,
    ordering: tuple[str, ...],
) -> QuerySet:
    """`queryset` reading `relation` of the object at `path` (a select_related chain) within its
    own query, in place of `prefetch_related("__".join((*path, relation)))`."""
    rows = embedded_rows(
        model, parent_key=parent_key, outer_model=queryset.model, outer_key=outer_key
    )
    annotated = queryset.annotate(**{ANNOTATION_PREFIX + relation: rows})
    annotated._iterable_class = EmbeddedRowsIterable
    specs = getattr(queryset.query, EMBEDDED_ATTRIBUTE, ())
    setattr(annotated.query, EMBEDDED_ATTRIBUTE, (*specs, (path, relation, model, ordering)))
    return annotated
