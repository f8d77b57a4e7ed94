"""Liveness and readiness: the database (and the cache when a shared one is configured).

The broker is reported too, but does not make the answer a 503: the API keeps working without
it (events wait in the outbox), so a load balancer must not take web nodes out for it.
"""

import uuid

from django.conf import settings
from django.core.cache import cache
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
    key = f"health:{uuid.uuid4().hex}"
    try:
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
