"""One trusted client address (crmApp.addresses) for rate limits, login limits, logs, sessions."""

import logging

import pytest
from django.test import RequestFactory
from rest_framework.throttling import AnonRateThrottle

from crmApp.addresses import client_address
from crmApp.models import UserSession
from tests.factories import DEFAULT_PASSWORD, UserFactory

PROXY = "10.0.0.1"
CLIENT = "203.0.113.7"
OTHER = "198.51.100.9"


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request_from(CLIENT, "1.2.3.4")) == CLIENT


@pytest.mark.parametrize(
    "hops,forwarded,expected",
    [
        (1, f"6.6.6.6, {CLIENT}", CLIENT),  # the client's own entry is ignored
        (2, f"6.6.6.6, {CLIENT}, 10.0.0.2", CLIENT),
        (1, f"{CLIENT}:51234", CLIENT),
        (1, "[2001:db8::0:1]:443", "2001:db8::1"),
        (2, CLIENT, PROXY),  # fewer entries than proxies: it did not come through them
        (1, "", PROXY),
        (1, "not-an-address", PROXY),
    ],
)
def test_the_entry_of_the_last_trusted_proxy_is_the_client(settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = hops
    assert client_address(request_from(PROXY, forwarded)) == expected


@pytest.fixture
def three_anonymous_per_minute():
    rates = {**AnonRateThrottle.THROTTLE_RATES, "anon": "3/min"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AnonRateThrottle, "THROTTLE_RATES", rates)
        yield


@pytest.mark.django_db
def test_a_forged_forwarded_for_does_not_reset_the_rate_limit(
    api_client, settings, three_anonymous_per_minute
):
    settings.TRUSTED_PROXY_COUNT = 0
    codes = [
        api_client.post(
            "/api/auth/refresh/", {}, REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}"
        ).status_code
        for n in range(4)
    ]
    assert codes == [400, 400, 400, 429]


@pytest.mark.django_db
def test_behind_a_proxy_clients_are_limited_apart_and_cannot_forge(
    api_client, settings, three_anonymous_per_minute
):
    settings.TRUSTED_PROXY_COUNT = 1

    def post(forwarded: str) -> int:
        return api_client.post(
            "/api/auth/refresh/", {}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded
        ).status_code

    assert [post(f"10.9.9.{n}, {CLIENT}") for n in range(4)] == [400, 400, 400, 429]
    assert post(OTHER) == 400  # another client behind the same proxy has its own budget


@pytest.mark.django_db
def test_login_failures_behind_a_proxy_do_not_lock_out_everyone(api_client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 20
    user = UserFactory(email="colleague@example.com")
    for n in range(20):
        api_client.post(
            "/api/auth/login/",
            {"email": f"guess{n}@example.com", "password": "wrong"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=CLIENT,
        )
    attacker = api_client.post(
        "/api/auth/login/",
        {"email": user.email, "password": DEFAULT_PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=CLIENT,
    )
    assert attacker.status_code == 429
    colleague = api_client.post(
        "/api/auth/login/",
        {"email": user.email, "password": DEFAULT_PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=OTHER,
    )
    assert colleague.status_code == 200
    assert UserSession.objects.get(user=user).ip_address == OTHER


@pytest.mark.django_db
def test_the_request_log_line_names_the_client(api_client, settings, caplog):
    settings.TRUSTED_PROXY_COUNT = 1
    caplog.set_level(logging.INFO, logger="crmApp.requests")
    api_client.get("/api/nowhere/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"1.1.1.1, {CLIENT}")
    (record,) = [r for r in caplog.records if r.name == "crmApp.requests"]
    assert record.client_ip == CLIENT
