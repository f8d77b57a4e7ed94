"""The shared cache with a process-local fallback while Redis cannot be reached.

Throttle counters, failed-login counters and cached list counts live in the shared cache. When
Redis is down every call would raise (or wait for a connection timeout), so this backend answers
from a per-process local-memory cache instead and tries Redis again after `RETRY_SECONDS`; it
logs one warning when Redis is lost and one line when it is back, never one per request.

The trade-off while Redis is down: every limit (rates, failed logins) is counted per worker
process instead of across the deployment, so a client may get up to workers x limit attempts,
and counts start from zero in each process (and again when Redis returns, from Redis's own
values). Logins, throttles and caches keep working, which an outage of a cache must allow.
Only connection and timeout errors fall back: any other error (a bug, a value that is not a
number for `incr`) is raised as usual.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("crmApp.cache")

#: The errors that mean "Redis cannot be reached now", by class.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)


class FailoverRedisCache(RedisCache):
    """`RedisCache`, answering from local memory while Redis is unreachable.

    OPTIONS: `RETRY_SECONDS` (default 5) between attempts to reach Redis again while it is
    down; the other options go to the Redis client as usual (socket timeouts keep a host that
    does not answer from holding a request).
    """

    def __init__(self, server, params):
        params = dict(params)
        options = dict(params.get("OPTIONS") or {})
        self.retry_seconds = float(options.pop("RETRY_SECONDS", 5.0))
        params["OPTIONS"] = options
        super().__init__(server, params)
        self.fallback = LocMemCache(
            f"failover-{id(self)}",
            {key: value for key, value in params.items() if key not in ("OPTIONS", "LOCATION")},
        )
        self._down_until = 0.0
        self._down = False
        self._lock = threading.Lock()

    # --- state ------------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """True while calls are answered from the local fallback."""
        return self._down

    def _lost(self, exc: BaseException) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self.retry_seconds
            first = not self._down
            self._down = True
        if first:
            logger.warning(
                "cache unreachable (%s): serving from process-local memory; limits are per "
                "process until it is back",
                type(exc).__name__,
            )

    def _recovered(self) -> None:
        with self._lock:
            was_down = self._down
            self._down = False
        if was_down:
            logger.warning("cache reachable again: shared counters resume")

    def _call(self, name: str, *args, **kwargs):
        if self._down and time.monotonic() < self._down_until:
            return getattr(self.fallback, name)(*args, **kwargs)
        try:
            result = getattr(super(), name)(*args, **kwargs)
        except UNREACHABLE as exc:
            self._lost(exc)
            return getattr(self.fallback, name)(*args, **kwargs)
        if self._down:
            self._recovered()
        return result

    def ping(self) -> None:
        """Reach Redis itself (for readiness checks), raising when it cannot be reached."""
        self._cache.get_client(write=True).ping()

    def add(self, *args, **kwargs):
        return self._call("add", *args, **kwargs)

    def get(self, *args, **kwargs):
        return self._call("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._call("set", *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._call("touch", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._call("delete", *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._call("get_many", *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._call("has_key", *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._call("incr", *args, **kwargs)

    def set_many(self, *args, **kwargs):
        return self._call("set_many", *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._call("delete_many", *args, **kwargs)

    def clear(self, *args, **kwargs):
        return self._call("clear", *args, **kwargs)
