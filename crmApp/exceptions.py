"""The one error envelope: `{"error": str, "details": object|str, "status_code": int}`.

DRF exceptions, Django validation errors, integrity races and unhandled errors all leave through
here, as do Django's own 404/500 pages (see `crmAdmin.urls`), so a client never parses HTML.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger("crmApp.errors")

VALIDATION_SUMMARY = "An error occurred"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with a concurrent change; retry it."
    default_code = "conflict"


def envelope(error: str, details, status_code: int) -> dict:
    return {"error": error, "details": details, "status_code": status_code}


def _django_validation_details(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {key: [str(m) for m in messages] for key, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def envelope_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        return Response(
            envelope("Validation Error", _django_validation_details(exc), 400), status=400
        )
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("Malformed request.")
    if isinstance(exc, IntegrityError) or (
        isinstance(exc, OperationalError) and "deadlock" in str(exc).lower()
    ):
        logger.warning("database race turned into 409: %s", exc)
        exc = Conflict()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args) if exc.args else exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error", exc_info=exc)
        return Response(
            envelope("Internal server error.", {"detail": "Internal server error."}, 500),
            status=500,
        )

    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        details = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = envelope(VALIDATION_SUMMARY, details, response.status_code)
    elif isinstance(exc, exceptions.NotFound) and exc.detail != exceptions.NotFound.default_detail:
        # "No Customer matches the given query." -> details is the message string (contract §2).
        message = str(exc.detail)
        if message == "Invalid page.":
            response.data = envelope(message, {"detail": message}, 404)
        else:
            response.data = envelope("Not Found", message, 404)
    elif isinstance(data, dict) and "detail" in data:
        response.data = envelope(str(data["detail"]), data, response.status_code)
    else:
        response.data = envelope(str(data), {"detail": data}, response.status_code)
    return response


def error_response(message: str, status_code: int, details=None) -> Response:
    """An envelope for a custom action's own error (`{"error": message, ...}`)."""
    return Response(
        envelope(message, details if details is not None else {"detail": message}, status_code),
        status=status_code,
    )


def json_not_found(request, exception=None):
    return JsonResponse(
        envelope("Not Found", {"detail": f"No route matches {request.path}."}, 404), status=404
    )


def json_server_error(request):
    return JsonResponse(
        envelope("Internal server error.", {"detail": "Internal server error."}, 500), status=500
    )


def json_bad_request(request, exception=None):
    return JsonResponse(envelope("Bad Request", {"detail": "Bad request."}, 400), status=400)


def json_forbidden(request, exception=None):
    return JsonResponse(envelope("Forbidden", {"detail": "Forbidden."}, 403), status=403)
