"""Account emails: email verification and password reset by emailed, single-use tokens.

A token is 32 random bytes (URL-safe base64) mailed in a link; only its SHA-256 is stored, so a
database read yields no working link. The token is minted by the email task itself, in the
transaction that sends it: it never travels through the broker, and a send that fails leaves no
token behind (the task is retried and mints a new one). Requests only queue that task after their
own commit (`crmApp.tasks.enqueue`), so mail leaves only from the `email` queue.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from crmApp.errors import InvalidInput
from crmApp.models import EmailVerificationToken, PasswordResetToken, User, UserSession
from crmApp.selectors.users import user_by_email
from crmApp.services.mail import email_send

INVALID_LINK = "This link is invalid or has expired."


def token_mint() -> tuple[str, str]:
    """(the token to mail, the digest to store)."""
    raw = secrets.token_urlsafe(32)
    return raw, token_digest(raw)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def frontend_link(*, path: str, token: str) -> str:
    return f"{settings.FRONTEND_URL}{path}?{urlencode({'token': token})}"


def email_task_queue(kind: str, object_id: int) -> None:
    """Queue the email task for `kind` once the current transaction commits."""
    from crmApp.tasks import account_email_send, enqueue

    enqueue(account_email_send, kind, object_id, queue="email")


# --- email verification ---------------------------------------------------------------------


@transaction.atomic
def email_verification_request(*, user: User) -> None:
    """Mail a verification link to an active, unverified account (nothing otherwise)."""
    if user.is_active and user.email_verified_at is None:
        email_task_queue("verify_email", user.pk)


def _token_replace(
    model: type[EmailVerificationToken] | type[PasswordResetToken],
    *,
    user: User,
    lifetime: timedelta,
) -> str:
    """Spend the account's unused tokens of `model` and store a new one; the raw token.

    Only the newest mail's link works; the row keeps the token's digest, never the token.
    """
    now = timezone.now()
    model.objects.filter(user=user, is_used=False).update(is_used=True, used_at=now)
    raw, digest = token_mint()
    model.objects.create(user=user, token=digest, expires_at=now + lifetime)
    return raw


@transaction.atomic
def verification_email_send(*, user_id: int) -> None:
    """The email task's body: mint a verification token and mail its link.

    Earlier unused links of the account stop working, so only the newest mail counts.
    """
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=True).first()
    if user is None:
        return
    hours = settings.EMAIL_VERIFICATION_TTL_HOURS
    raw = _token_replace(EmailVerificationToken, user=user, lifetime=timedelta(hours=hours))
    email_send(
        to=[user.email],
        template="verify_email",
        context={
            "user": user,
            "link": frontend_link(path=settings.FRONTEND_VERIFY_EMAIL_PATH, token=raw),
            "hours": hours,
        },
    )


@transaction.atomic
def email_verify(*, raw_token: str) -> User:
    """Confirm the address of the token's account; the token is spent."""
    now = timezone.now()
    row = (
        EmailVerificationToken.objects.select_for_update()
        .filter(token=token_digest(raw_token))
        .first()
    )
    if row is None or row.is_used or row.expires_at <= now:
        raise InvalidInput({"token": [INVALID_LINK]})
    user = User.objects.select_for_update().get(pk=row.user_id)
    if not user.is_active:
        raise InvalidInput({"token": [INVALID_LINK]})
    row.is_used, row.used_at = True, now
    row.save(update_fields=["is_used", "used_at", "updated_at"])
    if user.email_verified_at is None:
        user.email_verified_at = now
        user.is_verified = True
        user.save(update_fields=["email_verified_at", "is_verified", "updated_at"])
    return user


# --- password reset -------------------------------------------------------------------------


@transaction.atomic
def password_reset_request(*, email: str) -> None:
    """Mail a reset link when an active account has this address; otherwise do nothing.

    The caller answers the same either way; only the queued task differs, after the answer.
    """
    user = user_by_email(email=email, active_only=True)
    if user is not None:
        email_task_queue("password_reset", user.pk)


@transaction.atomic
def password_reset_email_send(*, user_id: int) -> None:
    """The email task's body: mint a reset token (earlier ones stop working) and mail it."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    minutes = settings.PASSWORD_RESET_TTL_MINUTES
    raw = _token_replace(PasswordResetToken, user=user, lifetime=timedelta(minutes=minutes))
    email_send(
        to=[user.email],
        template="password_reset",
        context={
            "user": user,
            "link": frontend_link(path=settings.FRONTEND_PASSWORD_RESET_PATH, token=raw),
            "minutes": minutes,
        },
    )


@transaction.atomic
def password_reset_confirm(*, raw_token: str, new_password: str) -> User:
    """Set a new password with a reset token and end every session of the account.

    The password is checked by Django's validators against this account (similarity to its
    name and address). Completing a reset proves the address, so it also verifies it.
    """
    now = timezone.now()
    row = (
        PasswordResetToken.objects.select_for_update().filter(token=token_digest(raw_token)).first()
    )
    if row is None or row.is_used or row.expires_at <= now:
        raise InvalidInput({"token": [INVALID_LINK]})
    user = User.objects.select_for_update().get(pk=row.user_id)
    if not user.is_active:
        raise InvalidInput({"token": [INVALID_LINK]})
    try:
        password_validation.validate_password(new_password, user)
    except DjangoValidationError as exc:
        raise InvalidInput({"new_password": list(exc.messages)}) from exc
    row.is_used, row.used_at = True, now
    row.save(update_fields=["is_used", "used_at", "updated_at"])
    user.set_password(new_password)
    # Authentication refuses tokens issued before this second; the sessions are revoked too, so
    # access tokens minted in this very second stop working as well.
    user.password_changed_at = now.replace(microsecond=0)
    fields = ["password", "password_changed_at", "updated_at"]
    if user.email_verified_at is None:
        user.email_verified_at, user.is_verified = now, True
        fields += ["email_verified_at", "is_verified"]
    user.save(update_fields=fields)
    UserSession.objects.filter(user=user, is_revoked=False).update(is_revoked=True, revoked_at=now)
    return user
