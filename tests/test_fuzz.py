"""Property-based hostile input: every create and update endpoint gets malformed payloads.

Whatever the payload (wrong types, huge numbers, NaN, deep structures, junk strings, unknown
choices), the answer is never a 5xx, and a refused write leaves the database unchanged.
"""

import json

import pytest
from django.urls import resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.routes import api_routes
from tests.world import build_world, database_snapshot

pytestmark = pytest.mark.django_db

JUNK_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "2026-13-45",
        "1e309",
        "-1",
        "99999999999999999999.99",
        "NaN",
        "<script>alert(1)</script>",
        "a" * 5000,
        "\u0000",
        "'; DROP TABLE customers; --",
        "not-an-email",
        "http://",
        "true",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
    | JUNK_STRINGS
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)

FUZZ_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)

ROUTES = api_routes()
WRITE_ROUTES = [
    r
    for r in ROUTES
    if r.basename not in (None, "user", "refresh-token")
    and (r.action == "create" or r.action in ("partial_update", "update"))
]


def _writable_fields(route, pk) -> list[str]:
    match = resolve(route.path(pk))
    view_class = match.func.cls
    classes = getattr(view_class, "serializer_classes", {}) or {}
    serializer_class = classes.get(route.action) or classes.get("default")
    if serializer_class is None:
        serializer_class = view_class.serializer_class
    serializer = serializer_class()
    return sorted(name for name, field in serializer.fields.items() if not field.read_only)


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=str)
def test_malformed_payloads_never_crash_or_write(route, org):
    world = build_world(org, marker="fuzz")
    pk = world.object_for(route.basename).pk if route.detail else None
    fields = _writable_fields(route, pk)
    client = world.owner.client

    @FUZZ_SETTINGS
    @given(payload=st.fixed_dictionaries({}, optional=dict.fromkeys(fields, JSON_VALUES)))
    def check(payload):
        before = database_snapshot()
        body = json.dumps(payload, allow_nan=True)
        method = getattr(client, route.method.lower())
        response = method(route.path(pk), data=body, content_type="application/json")
        assert response.status_code < 500, (route.key, payload, response.content[:500])
        if response.status_code >= 400:
            assert response.json()["status_code"] == response.status_code
            assert database_snapshot() == before, (route.key, payload)

    check()


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=str)
def test_garbage_bodies_are_a_400(route, org):
    world = build_world(org, marker="junk")
    pk = world.object_for(route.basename).pk if route.detail else None
    client = world.owner.client

    @FUZZ_SETTINGS
    @given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
    def check(raw):
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        if isinstance(parsed, dict) or not raw.strip():
            return  # a well-formed object (or no body at all) is the other test's job
        before = database_snapshot()
        method = getattr(client, route.method.lower())
        response = method(route.path(pk), data=raw, content_type="application/json")
        assert 400 <= response.status_code < 500, (route.key, raw, response.content[:300])
        assert database_snapshot() == before

    check()
