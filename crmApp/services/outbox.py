"""Delivering outbox events to consumers: fan-out, claiming, running, retrying.

Two steps, each in its own short transaction:

1. `outbox_fan_out`: pending events (no `fanned_out_at`) get one delivery row per interested
   consumer. The unique (event, consumer) pair makes this idempotent.
2. `outbox_claim_due`: due pending deliveries are claimed for a while (their `next_attempt_at`
   is pushed forward) and handed to `delivery_run`, each on its consumer's queue.

Rows are taken with `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent workers
split the work instead of queueing behind each other; `delivery_run` re-locks the delivery and
checks it is still pending, so two workers never run one consumer for one event. SQLite has
neither row locks nor SKIP LOCKED: there the unique constraint and SQLite's single writer keep
the same guarantees, one worker at a time.

Delivery is at least once (a worker dying after the consumer ran but before the commit makes a
retry), so consumers must be idempotent; the delivery row is their natural key.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from crmApp.models import Event, EventDelivery

logger = logging.getLogger("crmApp.outbox")

MAX_ERROR_LENGTH = 2000
DEFAULT_BATCH = 200


@dataclass(frozen=True)
class Consumer:
    """Something that reacts to events: `handler(event)` for events whose type is in `types`.

    `queue` is the kind of work it is (default, email, webhooks, imports): its deliveries run on
    that queue, so slow mail never delays other consumers.
    """

    name: str
    types: frozenset[str]
    handler: Callable[[Event], None]
    queue: str = "default"
    #: Of the organization ids given, those whose events it wants; None means every one. Lets
    #: a consumer that only some organizations use (webhooks) skip a delivery row per event.
    organizations: Callable[[set[int]], set[int]] | None = None


#: name -> consumer. Registered at import time by the modules that define consumers.
CONSUMERS: dict[str, Consumer] = {}


def consumer_register(consumer: Consumer) -> Consumer:
    CONSUMERS[consumer.name] = consumer
    return consumer


def consumers() -> dict[str, Consumer]:
    """The registry, with the project's own consumers loaded (their modules register them)."""
    from crmApp.services import mail, webhooks  # noqa: F401

    return CONSUMERS


def consumers_for(event_type: str) -> list[Consumer]:
    return [c for c in consumers().values() if event_type in c.types]


def _skip_locked() -> bool:
    connection = connections[router.db_for_write(EventDelivery)]
    return connection.features.has_select_for_update_skip_locked


def retry_delay(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: exponential, capped, with "equal jitter".

    Half the delay is fixed and half random, so a burst of failures (a mail server restart)
    does not come back as one synchronized burst of retries.
    """
    base = settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    delay = min(settings.OUTBOX_RETRY_MAX_SECONDS, base)
    return delay / 2 + random.uniform(0, delay / 2)


def outbox_fan_out(*, batch: int = DEFAULT_BATCH) -> int:
    """Create the deliveries of up to `batch` pending events; returns how many events."""
    now = timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=_skip_locked())
            .filter(fanned_out_at__isnull=True)
            .order_by("id")
            .values_list("id", "type", "organization_id")[:batch]
        )
        if not events:
            return 0
        organization_ids = {organization_id for _, _, organization_id in events}
        wanted = {
            consumer.name: consumer.organizations(organization_ids)
            for consumer in consumers().values()
            if consumer.organizations is not None
        }
        EventDelivery.objects.bulk_create(
            [
                EventDelivery(event_id=event_id, consumer=consumer.name, next_attempt_at=now)
                for event_id, event_type, organization_id in events
                for consumer in consumers_for(event_type)
                if consumer.name not in wanted or organization_id in wanted[consumer.name]
            ],
            ignore_conflicts=True,
        )
        Event.objects.filter(pk__in=[event_id for event_id, _, _ in events]).update(
            fanned_out_at=now
        )
    return len(events)


def outbox_claim_due(*, batch: int = DEFAULT_BATCH) -> list[tuple[int, str]]:
    """Claim up to `batch` due deliveries: (delivery id, consumer name) pairs.

    The claim only pushes `next_attempt_at` forward by `OUTBOX_CLAIM_SECONDS`: a delivery whose
    task is lost (broker restart) is due again after that and the next sweep hands it out anew.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            EventDelivery.objects.select_for_update(skip_locked=_skip_locked())
            .filter(status=EventDelivery.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", "consumer")[:batch]
        )
        if claimed:
            EventDelivery.objects.filter(pk__in=[pk for pk, _ in claimed]).update(
                next_attempt_at=now + timedelta(seconds=settings.OUTBOX_CLAIM_SECONDS)
            )
    return claimed


def delivery_run(*, delivery_id: int) -> str:
    """Run one delivery's consumer once; returns delivered, retry, failed or skipped.

    The delivery row stays locked while the consumer runs, so a second worker handed the same
    delivery skips it (SKIP LOCKED) or, arriving after the commit, sees it delivered. A consumer
    error never escapes: it is recorded on the row with the time of the next attempt.
    """
    with transaction.atomic():
        delivery = (
            EventDelivery.objects.select_for_update(skip_locked=_skip_locked(), of=("self",))
            .select_related("event__organization", "event__actor")
            .filter(pk=delivery_id, status=EventDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return "skipped"
        delivery.attempts += 1
        consumer = consumers().get(delivery.consumer)
        try:
            if consumer is None:
                raise LookupError(f"no consumer named {delivery.consumer!r}")
            with transaction.atomic():
                consumer.handler(delivery.event)
        except Exception as exc:  # noqa: BLE001 - any consumer failure is retried, never raised
            return _record_failure(delivery, exc)
        delivery.status = EventDelivery.Status.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.last_error = ""
        delivery.save(update_fields=["attempts", "status", "delivered_at", "last_error"])
    return "delivered"


def _record_failure(delivery: EventDelivery, exc: Exception) -> str:
    delivery.last_error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
    if delivery.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        delivery.status = EventDelivery.Status.FAILED
        outcome = "failed"
    else:
        delay = retry_delay(delivery.attempts)
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        outcome = "retry"
    delivery.save(update_fields=["attempts", "status", "last_error", "next_attempt_at"])
    logger.warning(
        "outbox consumer %s failed on event %s (attempt %s, %s): %s",
        delivery.consumer,
        delivery.event_id,
        delivery.attempts,
        outcome,
        delivery.last_error,
    )
    return outcome


def outbox_dispatch(*, batch: int = DEFAULT_BATCH, deliver: Callable[[int, str], None]) -> int:
    """Fan out pending events, then hand every due delivery to `deliver(id, queue)`.

    `deliver` publishes a delivery task (crmApp.tasks); a publish that fails leaves the claim
    to expire, and a later sweep hands the delivery out again. Returns deliveries handed out.
    """
    while outbox_fan_out(batch=batch) == batch:
        pass
    handed = 0
    while True:
        claimed = outbox_claim_due(batch=batch)
        for delivery_id, name in claimed:
            consumer = consumers().get(name)
            deliver(delivery_id, consumer.queue if consumer else "default")
        handed += len(claimed)
        if len(claimed) < batch:
            return handed
