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

from django.core.cache import cache as default_cache
from django.core.cache import caches
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

    def count_in_window(
        self, current_key: str, previous_key: str, lifetime: int
    ) -> tuple[int, int]:
        """`window_count` in one round trip: the counter is created with its lifetime if it is
        missing, incremented, and the previous window's read, in one pipeline (three calls,
        and four round trips, through the cache API)."""
        if self._down and time.monotonic() < self._down_until:
            return _counted_by_calls(self.fallback, current_key, previous_key, lifetime)
        current = self.make_and_validate_key(current_key)
        previous = self.make_and_validate_key(previous_key)
        try:
            pipeline = self._cache.get_client(current, write=True).pipeline(transaction=False)
            pipeline.set(current, 0, ex=lifetime, nx=True)
            pipeline.incr(current)
            pipeline.get(previous)
            _, count, before = pipeline.execute()
        except UNREACHABLE as exc:
            self._lost(exc)
            return _counted_by_calls(self.fallback, current_key, previous_key, lifetime)
        if self._down:
            self._recovered()
        return count, 0 if before is None else self._cache._serializer.loads(before)

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


def window_count(cache, current_key: str, previous_key: str, lifetime: int) -> tuple[int, int]:
    """Count one more request under `current_key` (a counter living `lifetime` seconds from
    its first request) and read the counter under `previous_key`: both counts, for the rate
    limits' sliding windows (crmApp.throttling). One round trip on Redis."""
    if cache is default_cache:  # DRF's throttles hold the proxy of the default cache
        cache = caches["default"]
    if isinstance(cache, FailoverRedisCache):
        return cache.count_in_window(current_key, previous_key, lifetime)
    return _counted_by_calls(cache, current_key, previous_key, lifetime)


def _counted_by_calls(cache, current_key: str, previous_key: str, lifetime: int) -> tuple[int, int]:
    if cache.add(current_key, 1, lifetime):
        current = 1
    else:
        try:
            current = cache.incr(current_key)
        except ValueError:  # expired between add() and incr()
            cache.set(current_key, 1, lifetime)
            current = 1
    return current, cache.get(previous_key, 0)
