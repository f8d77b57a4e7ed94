from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle


class AuthRateThrottle(ScopedRateThrottle):
    """A tighter shared limit for login, registration, refresh and password change."""

    scope_attr = "throttle_scope"


DEFAULT_THROTTLES = [AnonRateThrottle, UserRateThrottle]
