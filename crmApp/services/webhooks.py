"""Webhook endpoints and their deliveries: the writes, the outbox consumer and one attempt.

The outbox consumer `webhook_fan_out` turns each committed event into one delivery row per
matching active endpoint of the event's organization and queues `webhook_deliver` tasks on the
`webhooks` queue once that commits. Each task makes one signed POST (crmApp.services.webhook_http
checks the address again and connects only to it); a failure is retried with exponential backoff
and jitter for `WEBHOOK_RETRY_WINDOW_SECONDS`, by the periodic sweep that hands out due
deliveries. `WEBHOOK_DISABLE_AFTER_FAILURES` failed attempts in a row disable the endpoint and
the organization's owners get an email (a `webhook.disabled` event, mailed by its consumer).

Delivery is at least once and unordered: the body's `id` (the event id) lets a receiver
recognise a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crmApp.models import (
    Event,
    Organization,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from crmApp.models.events import EVENT_TYPES
from crmApp.services.audit import audit_record, audit_values
from crmApp.services.events import event_record
from crmApp.services.outbox import Consumer, _skip_locked, consumer_register
from crmApp.services.webhook_http import UnsafeURL, post_json, url_resolve

logger = logging.getLogger("crmApp.webhooks")

SECRET_PREFIX = "whsec_"
USER_AGENT = "crm-webhooks/1"
SIGNATURE_HEADER = "X-CRM-Signature"
MAX_ERROR_LENGTH = 2000
DEFAULT_BATCH = 200


def webhook_secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _check_url(url: str) -> None:
    url_resolve(url)


# --- endpoints --------------------------------------------------------------------------------


@transaction.atomic
def webhook_endpoint_create(
    *,
    organization: Organization,
    url: str,
    actor: User | None,
    event_types: list[str] | None = None,
    description: str = "",
    is_active: bool = True,
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret; the URL must pass the address check now."""
    _check_url(url)
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        event_types=list(event_types or []),
        description=description,
        is_active=is_active,
        secret=webhook_secret_new(),
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    audit_record(endpoint, "created", actor=actor)
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, actor: User | None, **changes: Any
) -> WebhookEndpoint:
    """Apply the validated changes; a new URL is checked, and turning an endpoint back on
    forgets its run of failures."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if "url" in changes and changes["url"] != locked.url:
        _check_url(changes["url"])
    reactivated = changes.get("is_active") is True and not locked.is_active
    before = audit_values(locked)
    for name, value in changes.items():
        setattr(locked, name, value)
    if reactivated:
        locked.consecutive_failures = 0
        locked.disabled_at = None
        locked.disabled_reason = ""
    locked.save()
    audit_record(locked, "updated", actor=actor, before=before)
    return locked


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: User | None) -> None:
    audit_record(endpoint, "deleted", actor=actor)
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, actor: User | None
) -> WebhookEndpoint:
    """Replace the secret; deliveries signed from now on use the new one."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    locked.secret = webhook_secret_new()
    locked.save(update_fields=["secret", "updated_at"])
    # The secret itself is never recorded: the row says only that it was replaced.
    audit_record(locked, "secret_rotated", actor=actor)
    return locked


@transaction.atomic
def webhook_endpoint_ping(*, endpoint: WebhookEndpoint, actor: User | None) -> WebhookDelivery:
    """Queue a `ping` delivery to the endpoint (sent even while it is disabled)."""
    now = timezone.now()
    payload = {
        "id": f"ping_{uuid.uuid4().hex}",
        "type": "ping",
        "occurred_at": now.isoformat(),
        "organization": endpoint.organization_id,
        "data": {"endpoint": endpoint.pk},
    }
    delivery = WebhookDelivery.objects.create(
        organization_id=endpoint.organization_id,
        endpoint=endpoint,
        event_type="ping",
        payload=payload,
        next_attempt_at=_claimed_until(now),
    )
    _queue_after_commit([delivery.pk])
    return delivery


@transaction.atomic
def webhook_delivery_redeliver(*, delivery: WebhookDelivery, actor: User | None) -> WebhookDelivery:
    """A new delivery of the same body (same event id) to the same endpoint, sent at once."""
    copy = WebhookDelivery.objects.create(
        organization_id=delivery.organization_id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        payload=delivery.payload,
        redelivery_of=delivery,
        next_attempt_at=_claimed_until(timezone.now()),
    )
    _queue_after_commit([copy.pk])
    return copy


# --- the outbox consumer ----------------------------------------------------------------------


def webhook_payload(event: Event) -> dict[str, Any]:
    body = {
        "id": event.pk,
        "type": event.type,
        "occurred_at": event.created_at.isoformat(),
        "organization": event.organization_id,
        "data": event.snapshot,
    }
    result: dict[str, Any] = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    return result


def webhook_fan_out(event: Event) -> None:
    """One delivery per active endpoint of the event's organization that wants its type.

    Runs inside the outbox delivery's transaction: the rows and the tasks that send them exist
    only if it commits; the unique (event, endpoint) pair makes a repeated fan-out a no-op.
    """
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            organization_id=event.organization_id, is_active=True
        ).only("id", "event_types", "organization_id")
        if endpoint.wants(event.type)
    ]
    if not endpoints:
        return
    payload = webhook_payload(event)
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                organization_id=event.organization_id,
                endpoint_id=endpoint.pk,
                event_id=event.pk,
                event_type=event.type,
                payload=payload,
                next_attempt_at=_claimed_until(now),
            )
            for endpoint in endpoints
        ],
        ignore_conflicts=True,
    )
    ids = list(
        WebhookDelivery.objects.filter(
            event_id=event.pk,
            endpoint_id__in=[e.pk for e in endpoints],
            redelivery_of__isnull=True,
            status=WebhookDelivery.Status.PENDING,
        ).values_list("id", flat=True)
    )
    _queue_after_commit(ids)


def organizations_with_endpoints(organization_ids: set[int]) -> set[int]:
    """Those of `organization_ids` with an active endpoint: only their events get a delivery
    row for this consumer, so organizations without webhooks pay nothing per event."""
    return set(
        WebhookEndpoint.objects.filter(organization_id__in=organization_ids, is_active=True)
        .values_list("organization_id", flat=True)
        .distinct()
    )


WEBHOOKS_CONSUMER = consumer_register(
    Consumer(
        name="webhooks",
        types=frozenset(EVENT_TYPES),
        handler=webhook_fan_out,
        queue="webhooks",
        organizations=organizations_with_endpoints,
    )
)


def _claimed_until(now):
    """A new delivery starts as claimed by the task queued for it: the sweep hands it out only
    if that task is lost, instead of racing it."""
    return now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS)


def _queue_after_commit(delivery_ids: list[int]) -> None:
    from crmApp.tasks import enqueue, webhook_deliver

    for delivery_id in delivery_ids:
        enqueue(webhook_deliver, delivery_id, queue="webhooks")


# --- sending ----------------------------------------------------------------------------------


def retry_delay(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: exponential, capped, half fixed and half random."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    delay = min(settings.WEBHOOK_RETRY_MAX_SECONDS, base)
    return delay / 2 + random.uniform(0, delay / 2)


def webhook_request(delivery: WebhookDelivery, secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt, signed at the moment it is made."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CRM-Event-Type": delivery.event_type,
        "X-CRM-Event-ID": str(delivery.payload.get("id", "")),
        "X-CRM-Delivery-ID": str(delivery.pk),
        SIGNATURE_HEADER: webhook_sign(secret=secret, timestamp=int(time.time()), body=body),
    }
    return body, headers


def webhook_deliver(*, delivery_id: int) -> str:
    """Make one attempt of a pending delivery: succeeded, retry, failed or skipped.

    The row stays locked during the attempt, so a second worker handed the same delivery skips
    it (SKIP LOCKED) or, after the commit, finds it no longer pending.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=_skip_locked(), of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return "skipped"
        endpoint = delivery.endpoint
        now = timezone.now()
        if (
            not endpoint.is_active
            and delivery.event_type != "ping"
            and not delivery.redelivery_of_id
        ):
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.last_error = "The endpoint is disabled."
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "last_error", "next_attempt_at", "updated_at"])
            return "failed"
        delivery.attempts += 1
        body, headers = webhook_request(delivery, endpoint.secret)
        error = ""
        try:
            answer = post_json(
                url=endpoint.url,
                body=body,
                headers=headers,
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            )
        except UnsafeURL as exc:
            error, delivery.response_code, delivery.latency_ms = (
                f"Refused: {exc.reason}",
                None,
                None,
            )
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
            delivery.response_code, delivery.latency_ms = None, None
        else:
            delivery.response_code, delivery.latency_ms = answer.status, answer.latency_ms
            if not 200 <= answer.status < 300:
                error = f"HTTP {answer.status}"
        if not error:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
            delivery.last_error = ""
            delivery.save()
            WebhookEndpoint.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(
                consecutive_failures=0
            )
            return "succeeded"
        delivery.last_error = error[:MAX_ERROR_LENGTH]
        delay = retry_delay(delivery.attempts)
        window_end = delivery.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
        if now + timedelta(seconds=delay) > window_end:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
            outcome = "failed"
        else:
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            outcome = "retry"
        delivery.save()
        _count_failure(endpoint.pk)
    logger.warning(
        "webhook delivery %s to endpoint %s failed (attempt %s, %s): %s",
        delivery.pk,
        endpoint.pk,
        delivery.attempts,
        outcome,
        delivery.last_error,
    )
    return outcome


def _count_failure(endpoint_id: int) -> None:
    """Count a failed attempt; at the limit disable the endpoint and tell the owners."""
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    if not endpoint.is_active or endpoint.consecutive_failures < limit:
        return
    endpoint.is_active = False
    endpoint.disabled_at = timezone.now()
    endpoint.disabled_reason = f"{endpoint.consecutive_failures} failed attempts in a row."
    before = {"is_active": True, "disabled_at": None, "disabled_reason": ""}
    endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"])
    audit_record(endpoint, "disabled", actor=None, before=before)
    event_record(
        organization_id=endpoint.organization_id,
        type="webhook.disabled",
        resource="webhook",
        resource_id=endpoint.pk,
        snapshot={
            "id": endpoint.pk,
            "url": endpoint.url,
            "consecutive_failures": endpoint.consecutive_failures,
            "disabled_reason": endpoint.disabled_reason,
        },
    )


def webhooks_claim_due(*, batch: int = DEFAULT_BATCH) -> list[int]:
    """Claim up to `batch` due pending deliveries (their retries) for `WEBHOOK_CLAIM_SECONDS`."""
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            WebhookDelivery.objects.select_for_update(skip_locked=_skip_locked())
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:batch]
        )
        if claimed:
            WebhookDelivery.objects.filter(pk__in=claimed).update(
                next_attempt_at=now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS)
            )
    return claimed
