"""Request rate limits: DRF's anon, user and scoped rates, counted in constant time.

DRF's throttles keep the timestamp of every request of the window in one cached list, which each
request reads, unpickles, extends and writes back: the cost grows with the rate (1,000 floats at
the default 1000/hour; ~1 ms per request once a busy client has 30,000 of them, measured in
bench/). These count per window instead: the current window's counter (one atomic increment)
plus the previous window's, weighted by how much of it still overlaps the sliding window. The
estimate assumes the previous window's requests were spread evenly; a refused request is not
counted, as in DRF.
"""

import hashlib
import logging
import math

from rest_framework import throttling

from crmApp.addresses import client_address
from crmApp.cache import window_count
from crmApp.identity import identity_key
from crmApp.logging import log_at_most_every

logger = logging.getLogger("crmApp.throttling")


class SlidingWindowRateThrottle(throttling.SimpleRateThrottle):
    """`allow_request`/`wait` over two per-window counters; listed after DRF's own throttle in
    each subclass's bases, so DRF's scope and rate handling runs first."""

    def get_ident(self, request) -> str:
        """The client's address (crmApp.addresses), never a client-chosen header value.

        DRF's own answer is the whole `X-Forwarded-For` header when no proxy count is set, so a
        client changing the header had a fresh budget on every request.
        """
        return client_address(request) or ""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            allowed = self._count(self.key)
        except Exception as exc:  # each cache backend raises its own client's errors
            # An unreachable cache must not turn every request into a 500: allow, and say so.
            log_at_most_every(
                logger,
                "throttle-cache",
                60,
                "rate limit skipped: cache unavailable (%s)",
                type(exc).__name__,
            )
            return True
        _note_limit(request, self.num_requests, self.remaining, self.wait())
        return allowed

    def _count(self, key: str) -> bool:
        """Count this request in the current window; whether it is within the rate."""
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        current_key = f"{key}:{window}"
        # Lives through the next window too, where it is the "previous" one.
        lifetime = int(self.window_end + self.duration - self.now) + 1
        current, previous = window_count(self.cache, current_key, f"{key}:{window - 1}", lifetime)
        overlap = (self.window_end - self.now) / self.duration
        used = previous * overlap + current
        if used <= self.num_requests:
            self.remaining = max(0, int(self.num_requests - used))
            return True
        self.cache.decr(current_key)  # a refused request does not count
        self.remaining = 0
        return False

    def wait(self) -> float:
        """Seconds until the current window ends (at least one)."""
        return max(self.window_end - self.now, 1.0)


#: Attribute of the Django request holding (limit, remaining, reset seconds) of its throttles.
LIMITS_ATTRIBUTE = "rate_limits"


def _note_limit(request, limit: int, remaining: int, reset: float) -> None:
    """Remember one throttle's figures on the request for the response headers
    (crmApp.middleware.RateLimitHeadersMiddleware)."""
    django_request = getattr(request, "_request", request)
    noted = getattr(django_request, LIMITS_ATTRIBUTE, None)
    if noted is None:
        noted = []
        setattr(django_request, LIMITS_ATTRIBUTE, noted)
    noted.append((limit, remaining, math.ceil(reset)))


def rate_limit_headers(request) -> dict[str, str]:
    """`RateLimit-Limit/Remaining/Reset` of the most constraining throttle the view applied
    (the fewest requests left), or nothing when the view is not throttled."""
    noted = getattr(request, LIMITS_ATTRIBUTE, None)
    if not noted:
        return {}
    limit, remaining, reset = min(noted, key=lambda figures: (figures[1], -figures[2]))
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }


class AnonRateThrottle(throttling.AnonRateThrottle, SlidingWindowRateThrottle):
    pass


class UserRateThrottle(throttling.UserRateThrottle, SlidingWindowRateThrottle):
    pass


class AuthRateThrottle(throttling.ScopedRateThrottle, SlidingWindowRateThrottle):
    """A tighter shared limit for login, registration, refresh and password change."""

    scope_attr = "throttle_scope"


class PasswordResetEmailThrottle(SlidingWindowRateThrottle):
    """Password-reset requests per email address (its identity key, hashed), from any client
    address: many addresses cannot flood one mailbox. Counted whether or not an account uses the
    address, so a 429 says nothing about accounts."""

    scope = "password_reset_email"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if hasattr(request.data, "get") else None
        if not isinstance(email, str) or not email.strip():
            return None
        digest = hashlib.sha256(identity_key(email).encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}
