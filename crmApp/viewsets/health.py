"""Health: `/api/health/` (the original combined check), `live/` and `ready/`.

- `live/`: the process answers; nothing else is checked, so an orchestrator restarts a worker
  only when the worker itself is stuck, never because a dependency is down.
- `ready/`: whether this process can serve traffic. The database is required (503 without it);
  the cache and the broker are checked and reported, but their failure leaves the answer a 200
  with status `degraded`: the API keeps serving without them (per-process limits while Redis is
  down, events waiting in the outbox while the broker is), and taking every web node out of the
  load balancer for them would turn a degradation into an outage.
- `/api/health/`: 503 when the database or the shared cache fails; the broker is reported only.

Both new probes are exempt from the https redirect (`SECURE_REDIRECT_EXEMPT`): probes speak
plain HTTP to the process.
"""

import uuid

from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from crmApp.throttling import AuthRateThrottle


class HealthRateThrottle(AuthRateThrottle):
    """The scoped sliding-window throttle, under the `health` rate. The view authenticates
    nobody, so every caller is counted by client address."""


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "error"])
    checks = serializers.DictField(child=serializers.CharField())


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_cache() -> str:
    if not settings.REDIS_URL:
        return "skipped"
    backend = caches["default"]
    key = f"health:{uuid.uuid4().hex}"
    try:
        if hasattr(backend, "ping"):
            # The failover cache answers from local memory while Redis is down; ask Redis.
            backend.ping()
            return "ok"
        cache.set(key, "1", timeout=5)
        ok = cache.get(key) == "1"
        cache.delete(key)
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}"
    return "ok" if ok else "error: cache read back nothing"


def _check_broker() -> str:
    if not settings.BROKER_CONFIGURED:
        return "skipped"
    from kombu import Connection

    timeout = settings.BROKER_CONNECT_TIMEOUT
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            connect_timeout=timeout,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        ) as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}"
    return "ok"


class HealthView(APIView):
    """200 when every configured dependency answers, else 503 naming what failed."""

    permission_classes = [AllowAny]
    authentication_classes = []
    # Each call runs a database query (and a cache round trip): light, but not free to repeat.
    throttle_classes = [HealthRateThrottle]
    throttle_scope = "health"
    serializer_class = HealthSerializer

    @extend_schema(
        responses={
            200: OpenApiResponse(HealthSerializer, description="Every dependency answers."),
            503: OpenApiResponse(HealthSerializer, description="`checks` names what failed."),
        }
    )
    def get(self, request):
        checks = {"database": _check_database(), "cache": _check_cache()}
        healthy = all(value in ("ok", "skipped") for value in checks.values())
        checks["broker"] = _check_broker()
        return Response(
            {"status": "ok" if healthy else "error", "checks": checks},
            status=200 if healthy else 503,
        )


class LiveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])


class ReadySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "error"])
    checks = serializers.DictField(child=serializers.CharField())


class LiveView(APIView):
    """200 while the process answers requests; checks no dependency and counts nothing."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []
    serializer_class = LiveSerializer

    @extend_schema(
        summary="Liveness probe",
        responses={200: OpenApiResponse(LiveSerializer, description="The process is up.")},
    )
    def get(self, request):
        return Response({"status": "ok"})


class ReadyView(APIView):
    """503 without the database; 200 `degraded` when only the cache or the broker fails."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [HealthRateThrottle]
    throttle_scope = "health"
    serializer_class = ReadySerializer

    @extend_schema(
        summary="Readiness probe",
        responses={
            200: OpenApiResponse(
                ReadySerializer, description="Serving; `degraded` names an optional dependency."
            ),
            503: OpenApiResponse(ReadySerializer, description="The database cannot be reached."),
        },
    )
    def get(self, request):
        checks = {
            "database": _check_database(),
            "cache": _check_cache(),
            "broker": _check_broker(),
        }
        if checks["database"] != "ok":
            state = "error"
        elif all(value in ("ok", "skipped") for value in checks.values()):
            state = "ok"
        else:
            state = "degraded"
        return Response(
            {"status": state, "checks": checks}, status=503 if state == "error" else 200
        )
