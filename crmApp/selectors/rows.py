"""The fast path for list pages: `values_list()` rows formatted by a small field spec.

Why: on a page of 50, building model instances and running a DRF ModelSerializer over them
cost ~6 ms of CPU against ~1 ms for a bare `.values()` view (bench/RESULTS.md); lists were at
0.1-0.26 of the bare view's throughput. A list whose serializer has a spec here is read with
ONE `values_list()` query (joined names through the relation paths, so still no per-row
queries) and each row becomes a dict by plain Python formatting. A resource's selector declares
its `ListSpec`; resources without one serialize model instances.

The output must stay byte-for-byte what the list serializer produces (the serializer class
remains the schema's and the contract's reference): decimals as strings with the field's
decimal places, datetimes in DRF's `"%Y-%m-%dT%H:%M:%S.%fZ"` in the current time zone, dates
ISO, booleans and integers as they are, nulls as null, an employee's name as
`"<first> <last>"` or null. `tests/test_list_rows.py` compares every spec with its list
serializer row for row (also under another TIME_ZONE), so a spec cannot drift silently.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from crmApp.selectors.counting import COUNT_QUERYSET

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # REST_FRAMEWORK's default DATETIME_FORMAT with UTC
CENT = Decimal("0.01")


def as_is(value: Any) -> Any:
    return value


def money(value: Decimal | None) -> str | None:
    """A (12,2) or (5,2) decimal as DRF renders it (COERCE_DECIMAL_TO_STRING): `"1200.50"`."""
    return None if value is None else f"{value.quantize(CENT):f}"


def serialized_datetime(value: datetime.datetime | None) -> str | None:
    """A datetime exactly as DRF's DateTimeField renders it: converted to the current time zone
    (TIME_ZONE unless another is activated), then formatted with DATETIME_FORMAT, whose literal
    "Z" is therefore only true while TIME_ZONE is UTC, as the settings have it."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.strftime(DATETIME_FORMAT)


def iso_date(value: datetime.date | None) -> str | None:
    return None if value is None else value.isoformat()


def person_name(first: str | None, last: str | None) -> str | None:
    """`Employee.full_name` of a nullable relation (`None` when the row has no employee)."""
    return None if first is None else f"{first} {last}"


@dataclass(frozen=True)
class Field:
    """One output key, read from one or more `values_list` paths and formatted by `format`."""

    key: str
    paths: tuple[str, ...]
    format: Callable[..., Any] = as_is


def plain(*keys: str) -> list[Field]:
    return [Field(key, (key,)) for key in keys]


def employee_name(key: str, relation: str) -> Field:
    return Field(key, (f"{relation}__first_name", f"{relation}__last_name"), person_name)


class ListSpec:
    """The list representation of one resource: which columns to read and how to format them."""

    def __init__(self, fields: Iterable[Field]):
        self.fields = tuple(fields)
        self.paths = tuple(path for field in self.fields for path in field.paths)
        # Slices of the row tuple per field, computed once.
        plan, start = [], 0
        for field in self.fields:
            plan.append((field.key, start, start + len(field.paths), field.format))
            start += len(field.paths)
        self._plan = tuple(plan)

    def rows(self, queryset: QuerySet) -> QuerySet:
        """The filtered, ordered list queryset reading only the spec's columns as tuples.

        `count_queryset` lets the paginator count the model queryset (no joins, same cache key).
        """
        rows = queryset.values_list(*self.paths)
        setattr(rows, COUNT_QUERYSET, queryset)
        return rows

    def render(self, rows: Iterable[tuple]) -> list[dict]:
        plan = self._plan
        return [{key: fmt(*row[a:b]) for key, a, b, fmt in plan} for row in rows]
