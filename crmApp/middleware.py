"""Request ids and one structured log line per request."""

import logging
import re
import time
import uuid

from django.core.exceptions import MiddlewareNotUsed

from crmApp.addresses import client_address
from crmApp.context import current_client_id, current_request_id
from crmApp.db import database_unreachable
from crmApp.db_routing import note_write, replica_configured
from crmApp.exceptions import database_unavailable_response
from crmApp.throttling import rate_limit_headers

logger = logging.getLogger("crmApp.requests")
REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestLogMiddleware:
    """Tag each request with an id (the client's `X-Request-ID` when sane, else a new one),
    return it in the response header and log method, path, status, duration, user,
    organization and client address as one line (JSON when `LOG_FORMAT=json`; the text format
    escapes control characters, crmApp.logging)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.META.get(REQUEST_ID_HEADER, "")
        request_id = supplied if _SAFE_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        started = time.perf_counter()
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        response["X-Request-ID"] = request_id
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        organization = request.META.get("HTTP_X_ORGANIZATION_ID") or request.GET.get("organization")
        logger.info(
            "%s %s %s %sms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user_id": user_id,
                "organization_id": (organization or None) and str(organization)[:20],
                "client_ip": client_address(request),
            },
        )
        return response


def _signed_in_id(request) -> int | None:
    # The API authenticates in the view and sets the user on this request then.
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


class ReplicaReadsMiddleware:
    """With a read replica: tells `crmApp.db_routing` who the request is for, and marks each
    write of a signed-in client, so that its next list, stats and report reads come from the
    primary and show what it just wrote (read-your-writes). Not installed without a replica."""

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

    def __init__(self, get_response):
        if not replica_configured():
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        token = current_client_id.set(lambda: _signed_in_id(request))
        try:
            response = self.get_response(request)
        finally:
            current_client_id.reset(token)
        if request.method not in self.SAFE_METHODS:
            user_id = _signed_in_id(request)
            if user_id is not None:
                note_write(user_id)
        return response


class DatabaseUnavailableMiddleware:
    """A view outside DRF (the admin, Django's own) that cannot reach the database answers 503
    with `Retry-After` in the envelope, like the API does (crmApp.exceptions).

    DRF views map the error in their exception handler; errors raised by a middleware reach
    Django's 500 handler, which recognises them the same way (`json_server_error`). The next
    request simply connects again: nothing is cached about the outage, so workers recover
    without a restart.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if database_unreachable(exception):
            return database_unavailable_response(exception)
        return None


class RateLimitHeadersMiddleware:
    """`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds) on every answer
    of a throttled view, 429s included (those also carry `Retry-After`, set by DRF)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for name, value in rate_limit_headers(request).items():
            response[name] = value
        return response
