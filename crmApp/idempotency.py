"""`Idempotency-Key` on every POST of the API: one execution per (user, key) for 24 hours.

A client that may retry a POST (a timeout, a dropped connection) sends a key of its choice. The
first request with the key runs and, when it succeeds (2xx), its answer is stored with a
fingerprint of the request (method, path, query, organization header, body). A later request
with the same key and the same fingerprint gets the stored answer again, marked
`Idempotent-Replayed: true`, without running; with another fingerprint it is refused (422). An
error answer is not stored: the writes are rolled back and the key is free again, so the client
can correct the request and retry with the same key.

Keys belong to the authenticated user; anonymous requests and the auth routes (whose answers
hold tokens, which are never stored) ignore the header. The claim, the request's writes and the
stored answer share one transaction (crmApp.services.idempotency explains the concurrency).
"""

from __future__ import annotations

import hashlib
import json
import re

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from crmApp import errors
from crmApp.authentication import RevocableJWTAuthentication
from crmApp.exceptions import envelope
from crmApp.services.idempotency import (
    idempotency_claim,
    idempotency_release,
    idempotency_store,
)

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
#: Answers larger than this are not kept (the key is released instead).
MAX_STORED_BYTES = 1024 * 1024
#: Top-level keys of an answer that mark it as holding credentials (tokens, a webhook's signing
#: secret): such an answer is never stored, so a replay cannot show a secret a second time.
TOKEN_KEYS = frozenset({"tokens", "access", "refresh", "token", "secret", "secret_key"})


def _exempt(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return True
    view_class = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    return view_class is None or bool(getattr(view_class, "idempotency_exempt", False))


def _user_id(request) -> int | None:
    """The caller, authenticated as the API does; None when anonymous or not valid."""
    try:
        user = Request(request, authenticators=[RevocableJWTAuthentication()]).user
    except APIException:
        return None
    return user.pk if user is not None and user.is_authenticated else None


def fingerprint(request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (
        request.method,
        request.path,
        request.META.get("QUERY_STRING", ""),
        request.META.get("HTTP_X_ORGANIZATION_ID", ""),
        request.content_type or "",
    ):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def _holds_tokens(content: bytes) -> bool:
    try:
        data = json.loads(content)
    except ValueError:
        return False
    return isinstance(data, dict) and bool(TOKEN_KEYS & data.keys())


def _storable(response) -> bool:
    return (
        200 <= response.status_code < 300
        and not getattr(response, "streaming", False)
        and len(response.content) <= MAX_STORED_BYTES
        and not _holds_tokens(response.content)
    )


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse(envelope(message, {"detail": message}, status), status=status)


def _replay(record) -> HttpResponse:
    response = HttpResponse(
        record.body, status=record.status_code, content_type=record.content_type or None
    )
    if record.location:
        response["Location"] = record.location
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.META.get(HEADER)
        if request.method != "POST" or key is None or _exempt(request.path_info):
            return self.get_response(request)
        if not _VALID_KEY.match(key):
            return _error(400, "Idempotency-Key must be 1 to 255 printable ASCII characters.")
        user_id = _user_id(request)
        if user_id is None:
            return self.get_response(request)
        try:
            body = request.body
        except RequestDataTooBig:
            return self.get_response(request)
        try:
            return self._once(request, key, user_id, body)
        except errors.DomainError as exc:
            return _error(exc.status_code, exc.message)

    def _once(self, request, key: str, user_id: int, body: bytes):
        with transaction.atomic():
            record, claimed = idempotency_claim(
                user_id=user_id,
                key=key,
                fingerprint=fingerprint(request, body),
                method=request.method,
                path=request.path,
            )
            if not claimed:
                if record.fingerprint != fingerprint(request, body):
                    return _error(
                        422,
                        "This Idempotency-Key was used with a different request; use a new key.",
                    )
                return _replay(record)
            response = self.get_response(request)
            if _storable(response):
                idempotency_store(
                    record=record,
                    status_code=response.status_code,
                    content_type=response.get("Content-Type", ""),
                    body=response.content.decode(response.charset or "utf-8", "replace"),
                    location=response.get("Location", ""),
                )
            elif response.status_code < 400:
                idempotency_release(record=record)
            else:
                transaction.set_rollback(True)
        return response
