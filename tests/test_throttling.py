"""Rate limits counted per window (crmApp.throttling): same limits, constant cost."""

from types import SimpleNamespace

import pytest
from django.core.cache import cache

from crmApp.throttling import UserRateThrottle


class FourPerMinute(UserRateThrottle):
    rate = "4/min"
    clock = 600.0  # the start of a window (600 // 60 = 10)

    def timer(self) -> float:
        return FourPerMinute.clock


@pytest.fixture
def request_of_user():
    cache.clear()
    FourPerMinute.clock = 600.0
    yield SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=7))
    cache.clear()


def allowed(request, times: int = 1) -> list[bool]:
    return [FourPerMinute().allow_request(request, None) for _ in range(times)]


def test_the_rate_is_allowed_then_refused_until_the_window_slides(request_of_user):
    assert allowed(request_of_user, 6) == [True] * 4 + [False] * 2

    FourPerMinute.clock = 660.0  # next window: the previous one still fully overlaps
    assert allowed(request_of_user) == [False]
    FourPerMinute.clock = 690.0  # half of it overlaps: 4 * 0.5 + 2 <= 4
    assert allowed(request_of_user, 3) == [True, True, False]
    FourPerMinute.clock = 780.0  # two windows later nothing remains
    assert allowed(request_of_user, 5) == [True] * 4 + [False]


def test_refused_requests_are_not_counted(request_of_user):
    allowed(request_of_user, 40)

    assert cache.get(FourPerMinute().get_cache_key(request_of_user, None) + ":10") == 4


def test_wait_is_the_rest_of_the_window(request_of_user):
    FourPerMinute.clock = 615.0
    throttle = FourPerMinute()
    for _ in range(5):
        throttle.allow_request(request_of_user, None)

    assert throttle.wait() == 45.0
    FourPerMinute.clock = 659.9
    throttle.allow_request(request_of_user, None)
    assert throttle.wait() == 1.0  # never less than a second


def test_users_are_counted_apart(request_of_user):
    other = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=8))

    assert allowed(request_of_user, 5) == [True] * 4 + [False]
    assert allowed(other, 4) == [True] * 4
