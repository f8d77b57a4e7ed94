"""The arithmetic of stays (a deal's time in one stage) that `StayTally` stores and the time-in-
stage report reads, written once in Python and once as PostgreSQL functions (`SQL_FUNCTIONS`,
created by migration 0013), so both sides give the same integers.

* `stay_micros`: a stay's duration in microseconds, exact.
* `stay_bucket`: a monotone integer of the duration: the value itself below 100 µs, else its
  number of decimal digits and its three leading digits (`digits * 1000 + leading`), mirrored
  below zero. A bucket is under 1% wide, so it holds few distinct durations; its bounds fall on
  every `9 * 10**k` µs, so all its durations share one `day_scale`.
* The report's figure of a stay is PostgreSQL's `EXTRACT(EPOCH ...) / 86400.0`, a numeric
  rounded (half away from zero) to `day_scale` decimals, which depends on the duration's
  leading digits; `AVG` sums those rounded values exactly, then divides by the count with its
  own scale (`pg_average`). A tally row keeps, besides the microseconds, the sum of the rows'
  `stay_residue`, the integer that makes the sum of rounded values exact again.
"""

from __future__ import annotations

import datetime
import functools
from decimal import Decimal

#: Microseconds per day over 10**8 (a day is 864 * 10**8 µs).
DAY = 864
#: Where PostgreSQL's scale of `epoch / 86400.0` drops by 4 digits (in µs, absolute values).
SCALE_STEPS = ((900, 28), (9_000_000, 24), (90_000_000_000, 20), (900_000_000_000_000, 16))


def stay_micros(entered: datetime.datetime, left: datetime.datetime) -> int:
    delta = left - entered
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def entry_cell(entered: datetime.datetime) -> tuple[datetime.date, int]:
    """An open stay's cell: the UTC day of its entry, and the microseconds since its midnight."""
    day = entered.astimezone(datetime.UTC).date()
    midnight = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
    return day, stay_micros(midnight, entered)


def _bucket_of_magnitude(value: int) -> int:
    if value < 100:
        return value
    digits = str(value)
    return len(digits) * 1000 + int(digits[:3])


def stay_bucket(micros: int) -> int:
    if micros >= 0:
        return _bucket_of_magnitude(micros)
    return -_bucket_of_magnitude(-micros) - 1


def _magnitude_range(bucket: int) -> tuple[int, int]:
    if bucket < 100:
        return bucket, bucket
    digits, leading = divmod(bucket, 1000)
    unit = 10 ** (digits - 3)
    return leading * unit, (leading + 1) * unit - 1


@functools.cache
def bucket_range(bucket: int) -> tuple[int, int]:
    """The durations (µs, both ends included) of `bucket`."""
    if bucket >= 0:
        return _magnitude_range(bucket)
    low, high = _magnitude_range(-bucket - 1)
    return -high, -low


def day_scale(micros: int) -> int:
    """The decimals PostgreSQL gives `EXTRACT(EPOCH FROM interval) / 86400.0` for a duration
    (its division keeps 16 significant digits, counted from the dividend's leading group of 4
    digits against the divisor's 8)."""
    magnitude = abs(micros)
    if magnitude == 0:
        return 24
    for below, scale in SCALE_STEPS:
        if magnitude < below:
            return scale
    return 12


@functools.cache
def bucket_scale(bucket: int) -> int:
    return day_scale(bucket_range(bucket)[0])


def _round_half_away(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded half away from zero, as numeric does."""
    quotient = (2 * abs(numerator) + denominator) // (2 * denominator)
    return quotient if numerator >= 0 else -quotient


def _scaled(micros: int, scale: int) -> int:
    """The duration in units of 10**-scale days, times 864 (an integer)."""
    return micros * 10 ** (scale - 8)


def stay_units(micros: int) -> int:
    """The stay's rounded day count in units of 10**-day_scale."""
    return _round_half_away(_scaled(micros, day_scale(micros)), DAY)


def stay_residue(micros: int) -> int:
    """What the rounding adds: 864 * units - micros * 10**(scale - 8), within ±432."""
    return DAY * stay_units(micros) - _scaled(micros, day_scale(micros))


def stay_days(micros: int) -> Decimal:
    """The stay as PostgreSQL's report computes it (a numeric of `day_scale` decimals)."""
    return Decimal(stay_units(micros)).scaleb(-day_scale(micros))


def units_of_sums(micros: int, residue: int, scale: int, target: int) -> int:
    """The exact sum of rounded day counts of stays of one scale (their summed `micros` and
    `residue`) in units of 10**-target (target >= scale)."""
    units, rest = divmod(_scaled(micros, scale) + residue, DAY)
    assert rest == 0, "a tally's residue does not match its durations"
    return units * 10 ** (target - scale)


def _lead(value: int, scale: int) -> tuple[int, int]:
    """The weight and first digit of value * 10**-scale in base 10000 (numeric's digits)."""
    if value == 0:
        return 0, 0
    magnitude = abs(value)
    weight = (len(str(magnitude)) - 1 - scale) // 4
    shift = scale + 4 * weight
    first = magnitude // 10**shift if shift >= 0 else magnitude * 10**-shift
    return weight, first


def pg_average(units: int, scale: int, count: int) -> float:
    """PostgreSQL's `AVG` of numerics whose exact sum is units * 10**-scale (the largest of the
    values' scales): numeric division of that sum by the count, rounded half away from zero at
    the scale numeric's division picks, then read as a float (as Django reads it)."""
    weight1, first1 = _lead(units, scale)
    weight2, first2 = _lead(count, 0)
    quotient_weight = weight1 - weight2 - (1 if first1 <= first2 else 0)
    result_scale = min(max(16 - 4 * quotient_weight, scale, 0), 1000)
    exact = _round_half_away(units * 10**result_scale, count * 10**scale)
    return float(Decimal(exact).scaleb(-result_scale))


_MAGNITUDE_STEPS = " ".join(
    ["WHEN magnitude < 100 THEN magnitude"]
    + [
        f"WHEN magnitude < {10**digits} THEN {digits * 1000} + magnitude / {10 ** (digits - 3)}"
        for digits in range(3, 19)
    ]
)

#: The same functions in PostgreSQL (inlined by the planner: one expression each, immutable,
#: so `stay_bucket(stay_micros(entered_at, left_at))` can be indexed).
SQL_FUNCTIONS = (
    """
    CREATE OR REPLACE FUNCTION stay_micros(entered timestamptz, left_at timestamptz)
    RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (EXTRACT(EPOCH FROM (left_at - entered)) * 1000000)::bigint
    """,
    # Integer comparisons and divisions only (the text of the number cost 5x more per row).
    f"""
    CREATE OR REPLACE FUNCTION stay_bucket_of_magnitude(magnitude bigint)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (CASE {_MAGNITUDE_STEPS} ELSE 19000 + magnitude / {10**16} END)::integer
    """,
    """
    CREATE OR REPLACE FUNCTION stay_bucket(micros bigint)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN micros >= 0 THEN stay_bucket_of_magnitude(micros)
        ELSE -stay_bucket_of_magnitude(-micros) - 1 END
    """,
    """
    CREATE OR REPLACE FUNCTION stay_day_scale(micros bigint)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN micros = 0 THEN 24 WHEN abs(micros) < 900 THEN 28
        WHEN abs(micros) < 9000000 THEN 24 WHEN abs(micros) < 90000000000 THEN 20
        WHEN abs(micros) < 900000000000000 THEN 16 ELSE 12 END
    """,
    """
    CREATE OR REPLACE FUNCTION stay_residue(micros bigint)
    RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (864 * round(micros::numeric * power(10::numeric, stay_day_scale(micros) - 8) / 864)
        - micros::numeric * power(10::numeric, stay_day_scale(micros) - 8))::bigint
    """,
)
DROP_SQL_FUNCTIONS = (
    "DROP FUNCTION IF EXISTS stay_residue(bigint)",
    "DROP FUNCTION IF EXISTS stay_day_scale(bigint)",
    "DROP FUNCTION IF EXISTS stay_bucket(bigint)",
    "DROP FUNCTION IF EXISTS stay_bucket_of_magnitude(bigint)",
    "DROP FUNCTION IF EXISTS stay_micros(timestamptz, timestamptz)",
)
