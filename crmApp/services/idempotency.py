"""Idempotency keys: claiming a (user, key) pair, storing the answer, purging old keys.

The claim is an INSERT under the unique (user, key) constraint inside the request's own
transaction. A concurrent request with the same key blocks on that constraint until the first
one's transaction ends: when it committed, the INSERT fails and the stored answer is replayed;
when it rolled back, the second request claims the key and runs. One execution either way.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crmApp import errors
from crmApp.models import IdempotencyKey


def _cutoff():
    return timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)


def idempotency_claim(
    *, user_id: int, key: str, fingerprint: str, method: str, path: str
) -> tuple[IdempotencyKey, bool]:
    """(the key's row, whether this call claimed it). Must run inside the request's transaction.

    A row older than the time to live no longer counts: it is replaced.
    """
    for _ in range(2):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user_id=user_id,
                    key=key,
                    fingerprint=fingerprint,
                    method=method,
                    path=path[:2000],
                )
            return record, True
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
            if existing is None:  # purged between the two statements
                break
            if existing.created_at >= _cutoff():
                return existing, False
            # Expired but not purged yet: it no longer counts; claim the key anew.
            IdempotencyKey.objects.filter(pk=existing.pk).delete()
    raise errors.Conflict("The idempotency key is in use; retry the request.")


def idempotency_store(
    *, record: IdempotencyKey, status_code: int, content_type: str, body: str, location: str
) -> None:
    record.status_code = status_code
    record.content_type = content_type
    record.body = body
    record.location = location[:2000]
    record.save(update_fields=["status_code", "content_type", "body", "location"])


def idempotency_release(*, record: IdempotencyKey) -> None:
    """Forget a claim whose answer is not kept, so the key may be used again."""
    IdempotencyKey.objects.filter(pk=record.pk).delete()


@transaction.atomic
def idempotency_keys_purge() -> int:
    """Delete the keys older than `IDEMPOTENCY_KEY_TTL_SECONDS`; how many were deleted."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=_cutoff()).delete()
    return deleted
