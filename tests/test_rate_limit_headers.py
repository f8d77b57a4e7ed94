"""RateLimit-* headers on every answer of a throttled view; Retry-After on a 429."""

import pytest

from crmApp.throttling import AuthRateThrottle

pytestmark = pytest.mark.django_db


def test_an_authenticated_answer_carries_the_user_limit(owner):
    first = owner.client.get("/api/customers/")
    second = owner.client.get("/api/customers/")

    assert first["RateLimit-Limit"] == "1000"
    assert first["RateLimit-Remaining"] == "999"
    assert second["RateLimit-Remaining"] == "998"
    assert 1 <= int(first["RateLimit-Reset"]) <= 3600


def test_errors_of_throttled_views_carry_the_headers_too(owner):
    response = owner.client.get("/api/customers/999999/")

    assert response.status_code == 404
    assert response["RateLimit-Limit"] == "1000"


def test_the_tightest_limit_is_reported_and_a_429_says_when_to_retry(api_client, monkeypatch):
    rates = {**AuthRateThrottle.THROTTLE_RATES, "health": "3/min"}
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", rates)

    answers = [api_client.get("/api/health/") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a["RateLimit-Limit"] for a in answers} == {"3"}
    assert int(answers[3]["Retry-After"]) == int(answers[3]["RateLimit-Reset"])
    assert 1 <= int(answers[3]["Retry-After"]) <= 60


def test_answers_outside_drf_views_have_no_headers(client):
    response = client.get("/api/no-such-route/")

    assert response.status_code == 404
    assert "RateLimit-Limit" not in response
