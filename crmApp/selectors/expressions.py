"""SQL expressions the reports need that Django does not ship, for PostgreSQL and SQLite.

Durations are fractional days computed in the database, so that filters (a deal rotting in its
stage) and aggregates (time in stage, sales cycle) never bring rows into Python to subtract
dates. PostgreSQL has `percentile_cont`; SQLite has no ordered-set aggregate at all, so the
reports read SQLite's durations and compute the same interpolation in Python
(`percentile_cont` below) — the figures are equal, only the work moves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.db.models import Aggregate, FloatField, Func


class DaysBetween(Func):
    """Fractional days from `start` to `end` (datetimes or dates; negative when `end` is
    earlier). Both sides are read as timestamps of the connection's time zone (UTC)."""

    arity = 2
    output_field = FloatField()

    def __init__(self, end: Any, start: Any, **extra: Any) -> None:
        super().__init__(end, start, **extra)

    def as_sql(self, compiler, connection, **extra_context):
        # PostgreSQL: a date minus a date is an integer, not an interval, so both sides are
        # cast to timestamps before EXTRACT reads the interval's seconds.
        return super().as_sql(
            compiler,
            connection,
            template="(EXTRACT(EPOCH FROM ((%(expressions)s)::timestamp)) / 86400.0)",
            arg_joiner=")::timestamp - (",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="(julianday(%(expressions)s))",
            arg_joiner=") - julianday(",
            **extra_context,
        )


class PercentilesCont(Aggregate):
    """PostgreSQL's continuous percentiles of `expression` at several `fractions` at once: one
    sort of the group's values instead of one per percentile (a list, in the fractions' order)."""

    function = "percentile_cont"
    template = "%(function)s(ARRAY[%(fractions)s]) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, *, fractions: Sequence[float], **extra: Any) -> None:
        if not fractions or not all(0 <= fraction <= 1 for fraction in fractions):
            raise ValueError("fractions must be between 0 and 1")
        from django.contrib.postgres.fields import ArrayField

        # Constants of ours (never client input) written into the SQL as literals.
        literals = ", ".join(f"{float(fraction)!r}::float8" for fraction in fractions)
        super().__init__(
            expression, fractions=literals, output_field=ArrayField(FloatField()), **extra
        )


def percentile_cont(ordered: Sequence[float], fraction: float) -> float | None:
    """`percentile_cont` of already sorted values: linear interpolation between the two values
    around position `fraction * (n - 1)`, as PostgreSQL computes it."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
