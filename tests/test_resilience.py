"""Dependency outages degrade the service instead of failing it; wrong methods are 405.

Each outage is real: the cache points at a closed port or at a Redis server this test starts
and stops, the database at a server that does not answer.
"""

import logging
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from django.db import connection, connections
from django.test import Client, override_settings

from crmApp.throttling import UserRateThrottle
from tests.events_support import free_port
from tests.redis_support import REDIS_SERVER, failover_cache, start_redis, stop_redis
from tests.routes import api_routes

# --- wrong HTTP methods --------------------------------------------------------------------

COLLECTION_ROUTES = sorted(
    {route.pattern: route for route in api_routes() if route.action == "list"}.values(),
    key=lambda route: route.pattern,
)
ROLES = ("owner", "admin", "manager", "sales", "viewer", "no_role", "outsider")


def _allowed(pattern: str) -> set[str]:
    return {route.method for route in api_routes() if route.pattern == pattern}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_a_method_a_collection_route_does_not_serve_is_405_for_every_role(request, role):
    member = request.getfixturevalue(role)
    checked = 0
    for route in COLLECTION_ROUTES:
        allowed = _allowed(route.pattern)
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            if method in allowed:
                continue
            response = member.client.generic(method, route.path(), "{}", "application/json")
            assert (route.pattern, method, response.status_code) == (route.pattern, method, 405)
            assert response.json() == {
                "error": f'Method "{method}" not allowed.',
                "details": {"detail": f'Method "{method}" not allowed.'},
                "status_code": 405,
            }
            assert set(response["Allow"].split(", ")) >= allowed
            checked += 1
    assert checked >= len(COLLECTION_ROUTES) * 2


@pytest.mark.django_db
def test_delete_and_put_on_customers_are_405_not_403(viewer, api_client):
    assert viewer.client.delete("/api/customers/").status_code == 405
    assert viewer.client.put("/api/customers/", {}, format="json").status_code == 405
    # The route and its methods are public (the schema lists them): no token needed to learn it.
    assert api_client.delete("/api/customers/").status_code == 405


# --- health probes -------------------------------------------------------------------------


@pytest.mark.django_db
def test_live_and_ready_answer_plain_http_with_the_https_redirect_on(client, settings):
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = True
    live = client.get("/api/health/live/")
    ready = client.get("/api/health/ready/")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "skipped", "broker": "skipped"},
    }
    # Everything else still goes to https.
    assert client.get("/api/health/").status_code == 301
    assert client.get("/api/customers/").status_code == 301


@pytest.mark.django_db
def test_ready_is_503_over_plain_http_when_the_database_is_down(client, settings):
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = True
    with unreachable_database():
        live = client.get("/api/health/live/")
        ready = client.get("/api/health/ready/")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["status"] == "error"
    assert ready.json()["checks"]["database"] == "error: OperationalError"


@pytest.mark.django_db
def test_ready_is_degraded_not_503_when_only_the_cache_and_broker_are_down(client, settings):
    from tests.events_support import celery_broker

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.BROKER_CONFIGURED = True
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    with (
        override_settings(CACHES=failover_cache(settings.REDIS_URL)),
        celery_broker(settings.CELERY_BROKER_URL),
    ):
        ready = client.get("/api/health/ready/")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "error: ConnectionError"
    assert body["checks"]["broker"].startswith("error: ")


# --- the database is down ------------------------------------------------------------------


def _unreachable_wrapper():
    """A connection to the same kind of database that cannot be reached."""
    settings_dict = dict(connection.settings_dict)
    if connection.vendor == "postgresql":
        settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()), CONN_MAX_AGE=0)
        settings_dict.setdefault("OPTIONS", {})
        settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "connect_timeout": 2}
    else:
        settings_dict.update(NAME="/nonexistent-directory/crm.sqlite3")
    return type(connections["default"])(settings_dict, alias="default")


@contextmanager
def unreachable_database():
    """Requests in the block find the default database unreachable; it is back afterwards."""
    original = connections["default"]
    connections["default"] = _unreachable_wrapper()
    try:
        yield
    finally:
        connections["default"].close()
        connections["default"] = original


@pytest.mark.django_db
def test_an_api_request_without_the_database_is_a_503_with_retry_after(owner, caplog):
    caplog.set_level(logging.WARNING, logger="crmApp.errors")
    with unreachable_database():
        responses = [owner.client.get("/api/customers/") for _ in range(3)]
        write = owner.client.post("/api/customers/", {"name": "A", "email": "a@example.com"})
    for response in [*responses, write]:
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert response.json() == {
            "error": "The service is temporarily unavailable; retry later.",
            "details": {"detail": "The service is temporarily unavailable; retry later."},
            "status_code": 503,
        }
    outage_lines = [r for r in caplog.records if r.getMessage().startswith("database unreach")]
    assert len(outage_lines) == 1
    # The same worker serves again as soon as the database answers.
    assert owner.client.get("/api/customers/").status_code == 200


@pytest.mark.django_db
def test_the_admin_without_the_database_is_a_503():
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a" * 32  # a session to look up in the database
    with unreachable_database():
        response = client.get("/admin/crmApp/customer/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["status_code"] == 503


class _DatabaseReadingMiddleware:
    """Stands for any middleware that reads the database before the view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from crmApp.models import Organization

        Organization.objects.exists()
        return self.get_response(request)


@pytest.mark.django_db
def test_an_outage_raised_in_a_middleware_is_a_503(settings):
    # Django answers exceptions raised by a middleware through its 500 handler.
    client = Client(raise_request_exception=False)
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}._DatabaseReadingMiddleware"]
    with unreachable_database():
        response = client.get("/api/health/live/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"] == "The service is temporarily unavailable; retry later."


@pytest.mark.django_db
def test_a_query_error_that_is_not_an_outage_stays_a_500():
    from django.db import OperationalError, ProgrammingError

    from crmApp.db import database_unreachable

    with (
        pytest.raises((OperationalError, ProgrammingError)) as raised,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT * FROM no_such_table_here")
    assert database_unreachable(raised.value) is False


@pytest.mark.django_db(transaction=True)
def test_a_postgres_worker_recovers_in_place_after_the_server_comes_back(owner):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: an in-memory SQLite test database cannot be reconnected")
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        down = owner.client.get("/api/customers/")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert (down.status_code, down["Retry-After"]) == (503, "5")
    # Same connection object, same settings as before the outage: it simply connects again.
    assert owner.client.get("/api/customers/").status_code == 200


# --- Redis is down -------------------------------------------------------------------------


def _cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "crmApp.cache"]


@pytest.mark.django_db
def test_with_redis_on_a_closed_port_the_api_serves_and_warns_once(owner, caplog):
    caplog.set_level(logging.WARNING)
    with override_settings(CACHES=failover_cache(f"redis://127.0.0.1:{free_port()}/0")):
        statuses = [owner.client.get("/api/customers/").status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert _cache_warnings(caplog) == [
        "cache unreachable (ConnectionError): serving from process-local memory; limits are "
        "per process until it is back"
    ]


@pytest.mark.django_db
def test_with_redis_down_the_login_lockout_still_locks(api_client, settings):
    from tests.factories import UserFactory

    user = UserFactory(email="lockme@example.com")
    with override_settings(CACHES=failover_cache(f"redis://127.0.0.1:{free_port()}/0")):
        wrong = [
            api_client.post(
                "/api/auth/login/", {"email": user.email, "password": "nope"}, format="json"
            ).status_code
            for _ in range(settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT)
        ]
        locked = api_client.post(
            "/api/auth/login/",
            {"email": user.email, "password": "Sturdy-Passw0rd!"},
            format="json",
        )
    assert wrong == [400] * settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0


class ThreePerMinute(UserRateThrottle):
    rate = "3/min"


def test_with_redis_down_the_rate_limits_still_count():
    caller = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=41))
    with override_settings(CACHES=failover_cache(f"redis://127.0.0.1:{free_port()}/0")):
        answers = [ThreePerMinute().allow_request(caller, None) for _ in range(5)]
    assert answers == [True, True, True, False, False]


@pytest.mark.django_db
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed here")
def test_a_real_redis_stopped_and_restarted_degrades_then_resumes(owner, caplog):
    from django.core.cache import caches

    caplog.set_level(logging.WARNING)
    port = free_port()
    server = start_redis(port)
    try:
        with override_settings(CACHES=failover_cache(f"redis://127.0.0.1:{port}/0", 0.0)):
            backend = caches["default"]
            assert owner.client.get("/api/customers/").status_code == 200
            backend.set("probe", "redis")
            assert backend.degraded is False
            stop_redis(server)
            assert [owner.client.get("/api/customers/").status_code for _ in range(3)] == [
                200,
                200,
                200,
            ]
            assert backend.degraded is True
            server = start_redis(port)
            assert owner.client.get("/api/customers/").status_code == 200
            assert backend.degraded is False
            backend.set("probe", "back")
            assert backend.get("probe") == "back"
    finally:
        if server.poll() is None:
            stop_redis(server)
    assert _cache_warnings(caplog) == [
        "cache unreachable (ConnectionError): serving from process-local memory; limits are "
        "per process until it is back",
        "cache reachable again: shared counters resume",
    ]


# --- the broker is down --------------------------------------------------------------------
# tests/test_events.py::test_a_down_broker_never_fails_the_request: a create with the broker
# on a closed port answers 201, the event waits in the outbox and is delivered by the sweep.


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed here")
def test_window_counts_on_redis_are_those_of_the_cache_calls_in_one_round_trip():
    """The rate limits' counter on Redis (one pipeline) counts as the add/incr/get calls do
    on any cache, across workers (two backends on one server), and lives its lifetime."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    from crmApp.cache import window_count

    port = free_port()
    server = start_redis(port)
    try:
        with override_settings(CACHES=failover_cache(f"redis://127.0.0.1:{port}/0")):
            one, two = caches.create_connection("default"), caches.create_connection("default")
            local = LocMemCache("windows", {})
            one.set("w:1", 7)
            local.set("w:1", 7)
            seen = [window_count(backend, "w:2", "w:1", 90) for backend in (one, two, one)]
            expected = [window_count(local, "w:2", "w:1", 90) for _ in range(3)]
            assert seen == expected == [(1, 7), (2, 7), (3, 7)]
            assert window_count(one, "w:3", "w:2", 90) == (1, 3)
            assert two.get("w:3") == 1
            assert 85 <= one._cache.get_client(write=True).ttl(one.make_key("w:3")) <= 90
            one.decr("w:3")  # a refused request is taken back, as the throttle does
            assert two.get("w:3") == 0
    finally:
        stop_redis(server)
