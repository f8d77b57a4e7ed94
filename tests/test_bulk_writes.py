"""The fast paths of bulk writes store exactly what the plain ones do.

`json_value` (snapshots and audit values) against the JSON round trip it replaces;
`insert_columns` (event and audit rows of bulk writes) against `bulk_create`; `bulk_binding`
(binary arrays on PostgreSQL) against Django's own binding. On both databases.
"""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st

from crmApp.db import bulk_binding, insert_columns
from crmApp.models import AuditEvent, Customer, Event, Lead
from crmApp.services.audit import audit_changes, audit_values, json_value, json_values
from crmApp.services.events import snapshot_of
from crmApp.services.records import inserted_fields, records_create_many
from tests.factories import LeadFactory, UserFactory


class Colour(models.TextChoices):
    RED = "red"


class Size(models.IntegerChoices):
    BIG = 3


def round_trip(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def same(a, b) -> bool:
    """Equal, and of the same types all the way down (1 is not True, "x" is not Colour.X)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


AWARE = dt.datetime(2026, 11, 26, 18, 30, 5, 123456, tzinfo=dt.UTC)
VALUES = [
    'text with "quotes" and \\ backslashes',
    "",
    0,
    -5,
    2**70,
    True,
    False,
    None,
    1.5,
    -0.0,
    Decimal("12.50"),
    Decimal("-0.001"),
    AWARE,
    AWARE.replace(microsecond=0),
    dt.datetime(2026, 1, 2, 3, 4, 5),
    dt.date(2026, 2, 28),
    dt.time(23, 59, 1, 500),
    dt.timedelta(days=1, seconds=3, microseconds=7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Colour.RED,
    Size.BIG,
    gettext_lazy("lazy text"),
    ["a", "b", 1, None, Decimal("1.0")],
    ("a", AWARE),
    {"nested": {"list": [AWARE, Colour.RED]}, "n": 1},
    {1: "int key", "s": "str key"},
    {None: "none key"},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_json_value_equals_the_json_round_trip(value):
    assert same(json_value(value), round_trip(value))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
    st.dates(),
    st.times(),
    st.uuids(),
    st.sampled_from([Colour.RED, Size.BIG]),
)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), nested, max_size=6))
def test_json_values_equals_the_json_round_trip_of_any_row(values):
    assert same(json_values(values), round_trip(values))


# --- insert_columns against bulk_create --------------------------------------------------------

TRICKY = {
    "quotes": 'a "quoted" \\ back\\slash, {braces}, commas, NULL',
    "unicode": "José ſ ı K 日本 \u2028",
    "nested": {"list": [1, "two", None, {"x": [True, False]}], "empty": {}},
    "number": 12.5,
}


def event_columns(org, actor, *, times) -> dict:
    return {
        "organization_id": [org.pk, org.pk, org.pk],
        "type": ["lead.created", "lead.updated", "lead.created"],
        "resource": ["lead", "lead", "lead"],
        "resource_id": [1, 2, 2**40],
        "actor_id": [actor.pk, None, actor.pk],
        "request_id": ['req-"1"', "", "req\\2"],
        "created_at": times,
        "snapshot": [TRICKY, {}, {"tags": ["a, b", "c"]}],
        "fanned_out_at": [None, times[0], None],
    }


def audit_columns(org, actor, *, times) -> dict:
    return {
        "organization_id": [org.pk, org.pk],
        "actor_id": [None, actor.pk],
        "request_id": ["", "r-1"],
        "action": ["created", "updated"],
        "resource": ["lead", "lead"],
        "record_id": [7, 8],
        "changes": [{"name": {"old": None, "new": TRICKY["quotes"]}}, TRICKY],
        "created_at": times,
    }


def stored(model, ids=None) -> list[dict]:
    rows = model.objects.order_by("pk")
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return [{k: v for k, v in row.items() if k != "id"} for row in rows.values()]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "columns_of"), [(Event, event_columns), (AuditEvent, audit_columns)]
)
def test_insert_columns_stores_what_bulk_create_stores(org, model, columns_of):
    actor = UserFactory()
    times = [AWARE, AWARE + dt.timedelta(microseconds=1), AWARE + dt.timedelta(days=1)][:2]
    if model is Event:
        times.append(AWARE + dt.timedelta(days=1))
    columns = columns_of(org, actor, times=times)
    names = list(columns)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]

    model.objects.bulk_create(model(**row) for row in rows)
    expected = stored(model)
    model.objects.all().delete()
    insert_columns(model, columns)

    assert stored(model) == expected
    assert len(expected) == len(rows)


@pytest.mark.django_db
def test_insert_columns_refuses_a_missing_or_unknown_column(org):
    columns = audit_columns(org, UserFactory(), times=[AWARE, AWARE])
    del columns["request_id"]
    with pytest.raises(ValueError):
        insert_columns(AuditEvent, columns)
    with pytest.raises(ValueError):
        insert_columns(AuditEvent, {**columns, "request_id": ["", ""], "extra": [1, 2]})
    with pytest.raises(ValueError):
        insert_columns(AuditEvent, {**columns, "request_id": [""]})
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_insert_columns_of_no_rows_writes_nothing(org):
    insert_columns(AuditEvent, {name: [] for name in audit_columns(org, UserFactory(), times=[])})
    assert not AuditEvent.objects.exists()


# --- bulk_binding against Django's binding -----------------------------------------------------


@pytest.mark.django_db
def test_bulk_binding_stores_the_same_rows(org):
    template = LeadFactory(organization=org, name='Ada "the" \\ first', tags=["a, b", 'c"d'])
    base = {
        field.attname: getattr(template, field.attname)
        for field in Lead._meta.concrete_fields
        if not field.primary_key
    }
    plain = Lead.objects.bulk_create(
        [Lead(**{**base, "code": f"P-{i}", "external_id": f"p-{i}"}) for i in range(3)]
    )
    with bulk_binding():
        if connection.vendor == "postgresql":
            # The binary cursor is really in use (the test database logs no queries).
            assert connection.connection.cursor_factory.__name__ == "BinaryListCursor"
        fast = Lead.objects.bulk_create(
            [Lead(**{**base, "code": f"F-{i}", "external_id": f"f-{i}"}) for i in range(3)]
        )
    if connection.vendor == "postgresql":
        assert connection.connection.cursor_factory.__name__ != "BinaryListCursor"

    def shape(rows):  # all but the keys made different on purpose and the save times
        differ = ("code", "external_id", "created_at", "updated_at")
        return [{k: v for k, v in row.items() if k not in differ} for row in rows]

    assert shape(stored(Lead, [lead.pk for lead in fast])) == shape(
        stored(Lead, [lead.pk for lead in plain])
    )
    assert [lead.pk is not None for lead in fast] == [True, True, True]


# --- records_create_many: snapshots taken before the insert ------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "rows"),
    [
        (
            Lead,
            [
                {"name": 'A "1"', "email": "a@example.com", "tags": ["x"], "lead_score": 5},
                {"name": "B", "email": "b@example.com", "estimated_value": Decimal("12.50")},
            ],
        ),
        (Customer, [{"name": "C", "email": "c@example.com"}, {"name": "D"}]),
    ],
)
def test_bulk_create_events_and_audit_rows_equal_those_of_the_saved_rows(org, model, rows):
    actor = UserFactory()
    created = records_create_many(model, organization_id=org.pk, rows=rows, actor=actor)

    resource = model.EVENT_RESOURCE
    for instance in created:
        saved = model.objects.get(pk=instance.pk)
        event = Event.objects.get(type=f"{resource}.created", resource_id=instance.pk)
        assert event.snapshot == snapshot_of(saved) == snapshot_of(instance)
        assert event.snapshot["code"] == saved.code != ""
        audit = AuditEvent.objects.get(resource=resource, record_id=instance.pk)
        assert audit.changes == audit_changes({}, audit_values(saved))
        assert (audit.action, audit.actor_id, event.actor_id) == ("created", actor.pk, actor.pk)


def test_inserted_fields_are_those_a_bulk_insert_sets():
    assert inserted_fields(Lead) == ["id", "created_at", "updated_at", "converted_at", "code"]
