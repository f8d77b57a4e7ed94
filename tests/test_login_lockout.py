"""Failed-login limits in the authentication backend: the API and the Django admin share them."""

import hashlib
import importlib
import logging
from contextlib import contextmanager

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import clear_url_caches

import crmAdmin.urls
from crmApp.models import User, UserSession
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.hashers import CountingMD5PasswordHasher

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login/"
ADMIN_LOGIN = "/admin/login/"
ATTACKER = "203.0.113.7"
VICTIM = "198.51.100.9"


def api_login(client, email: str, password: str, address: str = "127.0.0.1"):
    return client.post(LOGIN, {"email": email, "password": password}, REMOTE_ADDR=address)


def admin_login(client, email: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        ADMIN_LOGIN,
        {"username": email, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def lock_key(kind: str, email: str, address: str = "127.0.0.1") -> str:
    account = hashlib.sha256(email.encode()).hexdigest()
    return {
        "pair": f"login-fail:pair:{address}:{account}:lock",
        "acct": f"login-fail:acct:{account}:lock",
    }[kind]


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("root@example.com", "root", DEFAULT_PASSWORD)


def test_admin_login_is_throttled_after_the_account_limit(client, staff, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 5
    for _ in range(5):
        wrong = admin_login(client, staff.email, "wrong-password")
        assert wrong.status_code == 200
        assert "_auth_user_id" not in client.session
    blocked = admin_login(client, staff.email, DEFAULT_PASSWORD)  # even the right password
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == "60"
    assert "Too many failed login attempts. Try again in 60 seconds." in blocked.content.decode()
    assert "_auth_user_id" not in client.session
    staff.refresh_from_db()
    assert staff.last_login is None


def test_thirty_wrong_admin_passwords_are_not_thirty_guesses(client, staff, settings):
    settings.PASSWORD_HASHERS = ["tests.hashers.CountingMD5PasswordHasher"]
    CountingMD5PasswordHasher.calls = 0
    codes = [admin_login(client, staff.email, f"guess-{n}").status_code for n in range(30)]
    assert codes == [200] * 5 + [429] * 25
    assert CountingMD5PasswordHasher.calls == 5  # a refused attempt hashes nothing


def test_the_admin_and_the_api_share_one_budget(client, api_client, staff, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 4
    for _ in range(2):
        assert api_login(api_client, staff.email, "wrong-password").status_code == 400
        assert admin_login(client, staff.email, "wrong-password").status_code == 200
    assert api_login(api_client, staff.email, DEFAULT_PASSWORD).status_code == 429
    assert admin_login(client, staff.email, DEFAULT_PASSWORD).status_code == 429
    assert UserSession.objects.filter(user=staff).count() == 0


def test_admin_login_still_works_with_the_right_password(client, staff):
    response = admin_login(client, staff.email, DEFAULT_PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_one_address_cannot_lock_the_account_for_other_addresses(api_client, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 5
    victim = UserFactory(email="victim@example.com")
    for _ in range(5):
        assert api_login(api_client, victim.email, "wrong", ATTACKER).status_code == 400
    assert api_login(api_client, victim.email, DEFAULT_PASSWORD, ATTACKER).status_code == 429
    own = api_login(api_client, victim.email, DEFAULT_PASSWORD, VICTIM)
    assert own.status_code == 200
    assert own.data["user"]["id"] == victim.pk


def test_an_address_over_its_limit_blocks_only_itself(api_client, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 4
    user = UserFactory(email="fay@example.com")
    for n in range(4):
        assert api_login(api_client, f"guess{n}@example.com", "wrong", ATTACKER).status_code == 400
    assert api_login(api_client, user.email, DEFAULT_PASSWORD, ATTACKER).status_code == 429
    assert api_login(api_client, user.email, DEFAULT_PASSWORD, VICTIM).status_code == 200


def test_many_addresses_hit_the_account_wide_ceiling(api_client, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 2
    settings.LOGIN_FAILURE_LIMIT_ACCOUNT_WIDE = 6
    user = UserFactory(email="target@example.com")
    for n in range(6):
        address = f"192.0.2.{n // 2 + 1}"  # two guesses from each of three addresses
        assert api_login(api_client, user.email, "wrong", address).status_code == 400
    assert api_login(api_client, user.email, DEFAULT_PASSWORD, "192.0.2.99").status_code == 429


def test_each_failure_after_a_lock_doubles_it(api_client, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 2
    settings.LOGIN_FAILURE_BACKOFF_SECONDS = 60
    settings.LOGIN_FAILURE_BACKOFF_MAX_SECONDS = 200
    user = UserFactory(email="slow@example.com")
    waits = []
    for _ in range(2):
        api_login(api_client, user.email, "wrong")
    for _ in range(3):
        waits.append(api_login(api_client, user.email, "wrong")["Retry-After"])
        cache.delete(lock_key("pair", user.email))  # the lock runs out; the count stays
        assert api_login(api_client, user.email, "wrong").status_code == 400
    waits.append(api_login(api_client, user.email, "wrong")["Retry-After"])
    assert waits == ["60", "120", "200", "200"]


def test_a_successful_login_restarts_the_account_counters(api_client, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 3
    user = UserFactory(email="forgetful@example.com")
    for _ in range(2):
        api_login(api_client, user.email, "wrong")
    assert api_login(api_client, user.email, DEFAULT_PASSWORD).status_code == 200
    for _ in range(2):
        assert api_login(api_client, user.email, "wrong").status_code == 400
    assert api_login(api_client, user.email, DEFAULT_PASSWORD).status_code == 200


UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
    }
}


def test_an_unreachable_cache_fails_open_with_a_log_line(api_client, caplog):
    user = UserFactory(email="cacheless@example.com")
    caplog.set_level(logging.WARNING)
    with override_settings(CACHES=UNREACHABLE_CACHE):
        wrong = api_login(api_client, user.email, "wrong")
        right = api_login(api_client, user.email, DEFAULT_PASSWORD)
    assert wrong.status_code == 400
    assert right.status_code == 200
    assert right.data["user"]["id"] == user.pk
    messages = [record.getMessage() for record in caplog.records]
    assert "login lockout skipped in login_blocked_for: cache unavailable (ConnectionError)" in (
        messages
    )
    assert "rate limit skipped: cache unavailable (ConnectionError)" in messages


def test_admin_login_with_an_unreachable_cache_is_no_server_error(client, staff):
    with override_settings(CACHES=UNREACHABLE_CACHE):
        response = admin_login(client, staff.email, DEFAULT_PASSWORD)
    assert response.status_code == 302


# --- where the admin is served ---------------------------------------------------------------


def _reload_urls() -> None:
    importlib.reload(crmAdmin.urls)
    clear_url_caches()


@contextmanager
def urls_with(**overrides):
    try:
        with override_settings(**overrides):
            _reload_urls()
            yield
    finally:
        _reload_urls()


def test_admin_can_be_turned_off(client, staff):
    with urls_with(ADMIN_ENABLED=False):
        assert client.get(ADMIN_LOGIN).status_code == 404
        assert admin_login(client, staff.email, DEFAULT_PASSWORD).status_code == 404
    assert "_auth_user_id" not in client.session


def test_admin_can_be_moved(client, staff):
    with urls_with(ADMIN_URL="ops-7f3c/"):
        assert client.get(ADMIN_LOGIN).status_code == 404
        assert client.get("/ops-7f3c/login/").status_code == 200
        moved = client.post(
            "/ops-7f3c/login/", {"username": staff.email, "password": DEFAULT_PASSWORD}
        )
        assert moved.status_code == 302
