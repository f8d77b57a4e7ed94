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
from operator import itemgetter
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


class PerPage:
    """A format that depends on the request (its current time zone): `bind()` looks that up and
    returns the value format, once per page, since the lookup costs more than the formatting
    (the active zone is an asgiref local: ~4 us, 50 times a page). Called directly it binds
    for that one value."""

    def __init__(self, bind: Callable[[], Callable[..., Any]]):
        self.bind = bind

    def __call__(self, *values: Any) -> Any:
        return self.bind()(*values)


def datetime_in(zone: datetime.tzinfo) -> Callable[[datetime.datetime | None], str | None]:
    """DRF's DateTimeField rendering in `zone` (see `serialized_datetime`).

    `isoformat` is about twice as fast as `strftime` and writes the same characters up to the
    microseconds for years 1000-9999 (`%Y` does not pad shorter years to four digits);
    DATETIME_FORMAT then adds its literal "Z".
    """

    def formatted(value: datetime.datetime | None) -> str | None:
        if value is None:
            return None
        if value.utcoffset() is not None:  # aware: shown in the current zone, as DRF does
            value = value.astimezone(zone)
        if value.year < 1000:
            return value.strftime(DATETIME_FORMAT)
        return value.isoformat(timespec="microseconds")[:26] + "Z"

    return formatted


#: A datetime exactly as DRF's DateTimeField renders it: converted to the current time zone
#: (TIME_ZONE unless another is activated), then formatted with DATETIME_FORMAT, whose literal
#: "Z" is therefore only true while TIME_ZONE is UTC, as the settings have it.
serialized_datetime = PerPage(lambda: datetime_in(timezone.get_current_timezone()))


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
        # Computed once: each key with its field's first column (a row starts as those, in the
        # representation's key order), then the fields whose value is formatted.
        starts, start = [], 0
        single, multiple = [], []
        for field in self.fields:
            starts.append(start)
            end = start + len(field.paths)
            if len(field.paths) > 1:
                multiple.append((field.key, start, end, field.format))
            elif field.format is not as_is:
                single.append((field.key, start, field.format))
            start = end
        self._keys = tuple(field.key for field in self.fields)
        self._first_columns = itemgetter(*starts) if len(starts) > 1 else _one_of(starts)
        self._single = tuple(single)
        self._multiple = tuple(multiple)

    def rows(self, queryset: QuerySet) -> QuerySet:
        """The filtered, ordered list queryset reading only the spec's columns as tuples.

        `count_queryset` lets the paginator count the model queryset (no joins, same cache key).
        """
        rows = queryset.values_list(*self.paths)
        setattr(rows, COUNT_QUERYSET, queryset)
        return rows

    def render(self, rows: Iterable[tuple]) -> list[dict]:
        """Each row as its representation: the dict is built from the columns in one step and
        only formatted fields are then replaced (a replaced key keeps its place)."""
        keys, first_columns = self._keys, self._first_columns
        single = [(key, index, _bound(fmt)) for key, index, fmt in self._single]
        multiple = [(key, a, b, _bound(fmt)) for key, a, b, fmt in self._multiple]
        rendered = []
        for row in rows:
            item = dict(zip(keys, first_columns(row), strict=True))
            for key, index, fmt in single:
                item[key] = fmt(row[index])
            for key, a, b, fmt in multiple:
                item[key] = fmt(*row[a:b])
            rendered.append(item)
        return rendered


def _one_of(starts: list[int]) -> Callable[[tuple], tuple]:
    """`itemgetter` of one index returns the item, not a tuple of it."""
    (index,) = starts
    return lambda row: (row[index],)


def _bound(fmt: Callable[..., Any]) -> Callable[..., Any]:
    return fmt.bind() if isinstance(fmt, PerPage) else fmt
