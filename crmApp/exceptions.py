"""The one error envelope: `{"error": str, "details": object|str, "status_code": int}`.

Domain errors raised by services, DRF exceptions, Django validation errors, integrity races and
unhandled errors all leave through here, as do Django's own 404/500 pages (see `crmAdmin.urls`),
so a client never parses HTML. Each kind is recognised by its class, never by its message.
"""

import logging
import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from crmApp import errors
from crmApp.db import database_unreachable
from crmApp.logging import log_at_most_every

logger = logging.getLogger("crmApp.errors")

VALIDATION_SUMMARY = "An error occurred"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class InvalidPage(exceptions.NotFound):
    """A page number past the end or not a number (`{"error": "Invalid page."}`)."""

    default_detail = "Invalid page."
    default_code = "invalid_page"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with a concurrent change; retry it."
    default_code = "conflict"


class DatabaseUnavailable(exceptions.APIException):
    """The database cannot be reached now: 503 with `Retry-After`, retrying later may work."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable; retry later."
    default_code = "service_unavailable"

    def __init__(self):
        super().__init__()
        self.wait = settings.DATABASE_UNAVAILABLE_RETRY_AFTER


def log_database_unavailable(exc: BaseException) -> None:
    """One warning per interval per process, not one per request during an outage."""
    log_at_most_every(
        logger, "database-unavailable", 30, "database unreachable: %s", type(exc).__name__
    )


def database_unavailable_response(exc: BaseException) -> JsonResponse:
    """The 503 envelope for requests outside DRF views (middleware, admin, Django views)."""
    log_database_unavailable(exc)
    answer = DatabaseUnavailable()
    message = str(answer.detail)
    return JsonResponse(
        envelope(message, {"detail": message}, 503),
        status=503,
        headers={"Retry-After": str(answer.wait)},
    )


def envelope(error: str, details, status_code: int) -> dict:
    return {"error": error, "details": details, "status_code": status_code}


def _django_validation_details(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {key: [str(m) for m in messages] for key, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


#: PostgreSQL's SQLSTATE for a deadlock the server broke by aborting this transaction.
DEADLOCK_DETECTED = "40P01"


def _is_deadlock(exc: OperationalError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == DEADLOCK_DETECTED


def _domain_response(exc: errors.DomainError) -> Response:
    if isinstance(exc, errors.InvalidInput):
        details = exc.details
    elif isinstance(exc, errors.RecordMissing):
        return Response(envelope("Not Found", exc.message, 404), status=404)
    else:
        details = {"detail": exc.message}
    return Response(envelope(exc.message, details, exc.status_code), status=exc.status_code)


def _as_api_exception(exc):
    """Django's and the database's exceptions as the DRF exception the API answers with."""
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("Malformed request.")
    if database_unreachable(exc):
        log_database_unavailable(exc)
        return DatabaseUnavailable()
    if isinstance(exc, IntegrityError) or (isinstance(exc, OperationalError) and _is_deadlock(exc)):
        logger.warning("database race turned into 409: %s", exc)
        exc = Conflict()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args) if exc.args else exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    return exc


def _envelope_data(exc, data, status_code: int) -> dict:
    """The envelope of DRF's answer `data` to `exc`."""
    if isinstance(exc, exceptions.ValidationError):
        details = data if isinstance(data, dict) else {"non_field_errors": data}
        return envelope(VALIDATION_SUMMARY, details, status_code)
    if isinstance(exc, InvalidPage):
        message = str(exc.detail)
        return envelope(message, {"detail": message}, 404)
    if isinstance(exc, exceptions.NotFound) and exc.detail != exceptions.NotFound.default_detail:
        # "No Customer matches the given query." -> details is the message string.
        return envelope("Not Found", str(exc.detail), 404)
    if isinstance(data, dict) and "detail" in data:
        return envelope(str(data["detail"]), data, status_code)
    return envelope(str(data), {"detail": data}, status_code)


def envelope_exception_handler(exc, context):
    if isinstance(exc, errors.DomainError):
        return _domain_response(exc)
    if isinstance(exc, DjangoValidationError):
        return Response(
            envelope("Validation Error", _django_validation_details(exc), 400), status=400
        )
    exc = _as_api_exception(exc)
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error", exc_info=exc)
        return Response(
            envelope("Internal server error.", {"detail": "Internal server error."}, 500),
            status=500,
        )
    response.data = _envelope_data(exc, response.data, response.status_code)
    return response


def json_not_found(request, exception=None):
    return JsonResponse(
        envelope("Not Found", {"detail": f"No route matches {request.path}."}, 404), status=404
    )


def json_server_error(request):
    # Called while the uncaught exception is being handled, so it is still the current one:
    # an outage raised by a middleware (session, authentication) is a 503 like in a view.
    current = sys.exc_info()[1]
    if current is not None and database_unreachable(current):
        return database_unavailable_response(current)
    return JsonResponse(
        envelope("Internal server error.", {"detail": "Internal server error."}, 500), status=500
    )


def json_bad_request(request, exception=None):
    return JsonResponse(envelope("Bad Request", {"detail": "Bad request."}, 400), status=400)


def json_forbidden(request, exception=None):
    return JsonResponse(envelope("Forbidden", {"detail": "Forbidden."}, 403), status=403)
