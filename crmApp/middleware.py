"""Request ids and one structured log line per request."""

import logging
import re
import time
import uuid

from crmApp.addresses import client_address
from crmApp.context import current_request_id
from crmApp.db import database_unreachable
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
