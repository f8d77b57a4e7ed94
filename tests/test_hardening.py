"""Abuse limits and production hardening that are not tied to one resource."""

import hashlib
import socket

import pytest
from django.core.cache import caches
from django.test import override_settings

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_request_body_over_the_limit_is_refused(owner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = owner.client.post(
        "/api/customers/",
        {"organization": owner.organization.pk, "name": "x" * 5000, "email": "a@example.com"},
        format="json",
    )
    assert response.status_code in (400, 413)
    assert response.json()["status_code"] == response.status_code


def test_page_size_is_capped(owner):
    response = owner.client.get("/api/roles/", {"page_size": 100000})
    assert response.status_code == 200
    assert response.data["count"] == 4


@pytest.mark.parametrize("page_size", ["0", "-3", "abc", "1e9"])
def test_junk_page_size_falls_back_to_the_default(owner, page_size):
    response = owner.client.get("/api/roles/", {"page_size": page_size})
    assert response.status_code == 200


@pytest.mark.parametrize("page", ["0", "abc", "999999999999999999999"])
def test_junk_page_is_an_invalid_page(owner, page):
    response = owner.client.get("/api/roles/", {"page": page})
    assert response.status_code == 404
    assert response.data["error"] == "Invalid page."


def test_security_headers(api_client):
    response = api_client.get("/api/health/", secure=True)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "max-age=31536000" in response["Strict-Transport-Security"]


def test_cors_allows_only_configured_origins(api_client):
    allowed = api_client.options(
        "/api/customers/",
        HTTP_ORIGIN="http://localhost:5173",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,x-organization-id",
    )
    assert allowed["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "x-organization-id" in allowed["Access-Control-Allow-Headers"]
    refused = api_client.options(
        "/api/customers/",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )
    assert "Access-Control-Allow-Origin" not in refused


def test_anonymous_requests_are_rate_limited(api_client, settings):
    from rest_framework.throttling import AnonRateThrottle

    rates = {**AnonRateThrottle.THROTTLE_RATES, "anon": "3/min"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AnonRateThrottle, "THROTTLE_RATES", rates)
        codes = [api_client.post("/api/auth/refresh/", {}).status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]


def test_registration_has_the_tight_auth_scope(api_client):
    from crmApp.throttling import AuthRateThrottle

    rates = {**AuthRateThrottle.THROTTLE_RATES, "auth": "2/min"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AuthRateThrottle, "THROTTLE_RATES", rates)
        codes = [
            api_client.post("/api/users/", {"email": f"r{n}@example.com"}).status_code
            for n in range(3)
        ]
    assert codes == [400, 400, 429]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis server on 127.0.0.1:6379")
def test_failed_login_counters_are_shared_through_redis(api_client, settings):
    redis_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
            "KEY_PREFIX": "crm-test",
        }
    }
    with override_settings(CACHES=redis_cache, LOGIN_FAILURE_LIMIT_PER_ACCOUNT=2):
        caches["default"].clear()
        try:
            user = UserFactory(email="redis@example.com")
            body = {"email": user.email, "password": "wrong-password"}
            assert api_client.post("/api/auth/login/", body).status_code == 400
            assert api_client.post("/api/auth/login/", body).status_code == 400
            # another worker (a fresh cache client) sees the same counter
            caches._settings = None
            fresh = caches.create_connection("default")
            account = hashlib.sha256(b"redis@example.com").hexdigest()
            assert fresh.get(f"login-fail:pair:127.0.0.1:{account}") == 2
            assert fresh.get(f"login-fail:acct:{account}") == 2
            assert api_client.post("/api/auth/login/", body).status_code == 429
        finally:
            caches["default"].clear()
