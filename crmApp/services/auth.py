"""Login sessions, token issue and revocation, failed-login limits."""

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from crmApp.models import User, UserSession


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str

    def as_dict(self) -> dict[str, str]:
        return {"access": self.access, "refresh": self.refresh}


def _issue(*, user: User, session: UserSession) -> TokenPair:
    refresh = RefreshToken.for_user(user)
    refresh["user_id"] = user.pk  # the contract's integer claim (simplejwt writes a string)
    refresh["sid"] = session.pk
    session.refresh_jti = refresh["jti"]
    session.expires_at = timezone.now() + settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    session.save(update_fields=["refresh_jti", "expires_at", "updated_at"])
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


@transaction.atomic
def session_start(*, user: User, ip_address: str | None, device_info: str | None) -> TokenPair:
    """Open a session for a user who proved their password, and mint its first token pair."""
    session = UserSession.objects.create(
        user=user,
        refresh_jti="",
        expires_at=timezone.now(),
        ip_address=(ip_address or None) and ip_address[:45],
        device_info=(device_info or None) and device_info[:255],
    )
    User.objects.filter(pk=user.pk).update(last_login_at=timezone.now())
    return _issue(user=user, session=session)


@transaction.atomic
def session_refresh(*, raw_refresh: str) -> TokenPair:
    """Rotate a refresh token: the presented one is blacklisted and can never be used again.

    The session row is locked, so two concurrent refreshes of the same token yield one new pair
    and one 401.
    """
    try:
        # The library annotates its argument as a Token, but it is the encoded token it decodes.
        token = RefreshToken(raw_refresh)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidToken(exc.args[0]) from exc
    session = (
        UserSession.objects.select_for_update()
        .select_related("user")
        .filter(pk=token.get("sid"), is_revoked=False, user__is_active=True)
        .first()
    )
    if session is None or session.refresh_jti != token["jti"]:
        raise InvalidToken("Token is blacklisted")
    token.blacklist()
    return _issue(user=session.user, session=session)


def session_revoke(*, session_ids, user: User) -> int:
    """Revoke sessions of a user: their access and refresh tokens stop working at once."""
    return UserSession.objects.filter(pk__in=session_ids, user=user, is_revoked=False).update(
        is_revoked=True, revoked_at=timezone.now()
    )


@transaction.atomic
def user_logout(*, user: User, access_session_id: int | None, raw_refresh: str | None) -> None:
    """End the session of the presented access token and of the refresh token, if given."""
    session_ids = {access_session_id} if access_session_id else set()
    if raw_refresh:
        try:
            # (The encoded token, as above.)
            refresh = RefreshToken(raw_refresh)  # type: ignore[arg-type]
        except TokenError:
            refresh = None
        if refresh is not None and refresh.get("user_id") == user.pk:
            session_ids.add(refresh.get("sid"))
            refresh.blacklist()
    session_revoke(session_ids=session_ids, user=user)


@transaction.atomic
def user_change_password(
    *, user: User, new_password: str, ip_address: str | None, device_info: str | None
) -> TokenPair:
    """Set a new password and end every earlier session; the caller gets a fresh pair."""
    user.set_password(new_password)
    now = timezone.now()
    # Tokens carry whole-second `iat`: tokens issued in this second must stay valid, earlier ones
    # are refused by authentication.
    user.password_changed_at = now.replace(microsecond=0)
    user.save(update_fields=["password", "password_changed_at", "updated_at"])
    UserSession.objects.filter(user=user, is_revoked=False).update(is_revoked=True, revoked_at=now)
    return session_start(user=user, ip_address=ip_address, device_info=device_info)


# --- failed-login limits -------------------------------------------------------------------


def _failure_keys(email: str, address: str | None) -> list[tuple[str, int]]:
    keys = [(f"login-fail:acct:{email.strip().lower()}", settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT)]
    if address:
        keys.append((f"login-fail:addr:{address}", settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS))
    return keys


def login_blocked_for(*, email: str, address: str | None) -> int | None:
    """Seconds to wait when the account or the address has too many recent failures, else None.

    The answer is the same whether or not the email exists, so it reveals nothing.
    """
    for key, limit in _failure_keys(email, address):
        entry = cache.get(key)
        if entry and entry["count"] >= limit:
            return max(1, int(entry["until"] - timezone.now().timestamp()))
    return None


def login_failed(*, email: str, address: str | None) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for key, _limit in _failure_keys(email, address):
        entry = cache.get(key) or {"count": 0, "until": timezone.now().timestamp() + window}
        entry["count"] += 1
        cache.set(key, entry, timeout=max(1, int(entry["until"] - timezone.now().timestamp())))


def login_succeeded(*, email: str) -> None:
    cache.delete(f"login-fail:acct:{email.strip().lower()}")


@transaction.atomic
def user_register(*, email: str, username: str, password: str, **profile) -> User:
    """Create an account (the form has checked the password and that email and name are free)."""
    return User.objects.create_user(email=email, username=username, password=password, **profile)


@transaction.atomic
def user_update_profile(*, user: User, **changes) -> User:
    """Change the caller's own profile fields."""
    for name, value in changes.items():
        setattr(user, name, value)
    user.save()
    return user
