"""Celery tasks and the one way to queue them.

Every task is idempotent: the outbox tasks work from database rows whose state says what is left
to do, so a task delivered twice (late acknowledgement, a sweep racing a nudge) does nothing the
second time. Database hiccups are retried by Celery with exponential backoff and jitter;
consumer failures are retried by the outbox itself (crmApp.services.outbox), per delivery.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, transaction

from crmApp.services import outbox

logger = logging.getLogger("crmApp.tasks")

RETRYING = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}


def queue_name(kind: str) -> str:
    """The broker queue of a kind of work (default, email, webhooks, imports)."""
    if kind not in settings.TASK_QUEUES:
        raise ValueError(f"unknown queue {kind!r}")
    return f"{settings.TASK_QUEUE_PREFIX}{kind}"


def publish(task, *args, queue: str = "default", **options) -> bool:
    """Send `task` now. A broker error is logged and reported as False, never raised: the
    work it stood for is recorded in the database and swept up later."""
    try:
        task.apply_async(args=args, queue=queue_name(queue), **options)
    except Exception:  # noqa: BLE001 - a broker outage must not fail the caller
        logger.warning("could not publish %s to %s", task.name, queue, exc_info=True)
        return False
    return True


def enqueue(task, *args, queue: str = "default", **options) -> None:
    """Queue `task` once the current transaction commits (at once outside one).

    Without a broker, Celery's eager mode runs it in-process at that moment, so both modes take
    this same path and a rolled-back transaction queues nothing.
    """
    transaction.on_commit(lambda: publish(task, *args, queue=queue, **options), robust=True)


def _deliver(delivery_id: int, queue: str) -> None:
    publish(outbox_deliver, delivery_id, queue=queue)


@shared_task(name="crmApp.tasks.outbox_dispatch", **RETRYING)
def outbox_dispatch() -> int:
    """Fan out pending events and hand due deliveries to their queues (nudge and beat sweep)."""
    return outbox.outbox_dispatch(deliver=_deliver)


@shared_task(name="crmApp.tasks.outbox_deliver", **RETRYING)
def outbox_deliver(delivery_id: int) -> str:
    """Run one (event, consumer) delivery; a no-op unless it is still pending."""
    return outbox.delivery_run(delivery_id=delivery_id)


@shared_task(
    name="crmApp.tasks.account_email_send",
    **{**RETRYING, "autoretry_for": (DatabaseError, OSError)},
)
def account_email_send(kind: str, object_id: int) -> str:
    """Mint and mail one account token (verification, password reset, invitation).

    Runs on the `email` queue. A failed send (SMTP errors are OSErrors) rolls back the token it
    minted and is retried with backoff; each retry mints a fresh one. Unknown kinds are ignored.
    """
    from crmApp.services import accounts, invitations

    senders = {
        "verify_email": lambda: accounts.verification_email_send(user_id=object_id),
        "password_reset": lambda: accounts.password_reset_email_send(user_id=object_id),
        "invitation": lambda: invitations.invitation_email_send(invitation_id=object_id),
    }
    sender = senders.get(kind)
    if sender is None:
        logger.warning("unknown account email kind %r", kind)
        return "skipped"
    sender()
    return "sent"


@shared_task(name="crmApp.tasks.webhook_deliver", **RETRYING)
def webhook_deliver(delivery_id: int) -> str:
    """One attempt of one webhook delivery; a no-op unless it is still pending."""
    from crmApp.services.webhooks import webhook_deliver as deliver

    return deliver(delivery_id=delivery_id)


@shared_task(name="crmApp.tasks.webhooks_sweep", **RETRYING)
def webhooks_sweep() -> int:
    """Hand every due webhook delivery (retries, and sends whose task was lost) to a worker."""
    from crmApp.services.webhooks import webhooks_claim_due

    claimed = webhooks_claim_due()
    for delivery_id in claimed:
        publish(webhook_deliver, delivery_id, queue="webhooks")
    return len(claimed)


@shared_task(name="crmApp.tasks.idempotency_purge", **RETRYING)
def idempotency_purge() -> int:
    """Delete idempotency keys older than `IDEMPOTENCY_KEY_TTL_SECONDS`."""
    from crmApp.services.idempotency import idempotency_keys_purge

    return idempotency_keys_purge()


EMAIL_RETRYING = {**RETRYING, "autoretry_for": (DatabaseError, OSError)}


@shared_task(name="crmApp.tasks.assignment_email_send", **EMAIL_RETRYING)
def assignment_email_send(kind: str, object_id: int) -> str:
    """Tell the assignee of a task (`activity`) or a deal about it, unless they opted out."""
    from crmApp.services.notifications import assignment_email_send as send

    return "sent" if send(kind=kind, object_id=object_id) else "skipped"


@shared_task(name="crmApp.tasks.task_digest_send", **EMAIL_RETRYING)
def task_digest_send() -> int:
    """The daily digest: each user's open tasks due today or overdue (beat, once a day)."""
    from crmApp.services.notifications import digest_send_all

    return digest_send_all()


@shared_task(name="crmApp.tasks.audit_purge", **RETRYING)
def audit_purge() -> int:
    """Delete audit rows older than `AUDIT_RETENTION_DAYS` (0 keeps them forever)."""
    from crmApp.services.audit import audit_purge as purge

    return purge()
