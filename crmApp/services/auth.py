"""Login sessions, token issue and revocation, failed-login limits."""

import functools
import hashlib
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken, Token

from crmApp.identity import identity_key
from crmApp.logging import log_at_most_every
from crmApp.models import User, UserSession
from crmApp.selectors.users import username_taken
from crmApp.services.accounts import email_verification_request

logger = logging.getLogger("crmApp.auth")


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


class _SignedRefreshToken(RefreshToken):
    """A refresh token whose signature, expiry and type are verified, not its blacklisting.

    Whether the token is the session's current one is decided by `session_refresh` from the
    session row: a blacklisted (already rotated) token is the sign of a stolen chain there,
    which a blacklist refusal in the constructor would hide.
    """

    def verify(self, *args, **kwargs) -> None:
        Token.verify(self, *args, **kwargs)


def session_refresh(*, raw_refresh: str) -> TokenPair:
    """Rotate a refresh token: the presented one is blacklisted and can never be used again.

    Presenting an already-rotated token of a live session means two parties hold the chain (a
    stolen token was used first, or is being replayed): the whole session is revoked, so its
    current access and refresh tokens stop working at once, whoever holds them. A client that
    refreshes twice in parallel loses its session the same way; it must refresh serially.
    """
    try:
        # The library annotates its argument as a Token, but it is the encoded token it decodes.
        token = _SignedRefreshToken(raw_refresh)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidToken(exc.args[0]) from exc
    tokens = _session_rotate(token=token)
    # Raised outside the rotation's transaction, so the revocation of a reused chain is kept.
    if tokens is None:
        raise InvalidToken("Token is blacklisted")
    return tokens


@transaction.atomic
def _session_rotate(*, token: RefreshToken) -> TokenPair | None:
    """The new pair, or None after refusing (and, on reuse, revoking the session).

    The session row is locked, so of two concurrent refreshes of one token the first rotates
    and the second is a reuse.
    """
    session = (
        UserSession.objects.select_for_update()
        .select_related("user")
        .filter(pk=token.get("sid"), user_id=token.get("user_id"))
        .first()
    )
    if session is None or session.is_revoked or not session.user.is_active:
        return None
    if session.refresh_jti != token["jti"]:
        session_revoke(session_ids=[session.pk], user=session.user)
        logger.warning("refresh token reused: session %s revoked", session.pk)
        return None
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
#
# The authentication backend (crmApp.authentication.EmailBackend) calls these around every
# password check, so the API login and the Django admin share one budget. Counters are keyed on
# the email's identity key (crmApp.identity), hashed (any text may arrive as an admin username),
# so every spelling of one address shares them:
#
# - per (address, account): what one address may try against one account;
# - per account, over all addresses: a ceiling for guessing spread over many addresses, set
#   well above the pair limit so one address alone cannot lock an account for everyone;
# - per address, over all accounts (password spraying): it blocks that address only.
#
# Counts are cache `add`/`incr` (atomic across workers with Redis). A counter at its limit
# writes a lock time; each further failure doubles the lock. With Redis configured the cache is
# crmApp.cache.FailoverRedisCache: while Redis is down the counters live in each worker's memory,
# so the limits still hold, per process. Any error left (another cache backend failing) never
# refuses a login: it is logged (at most once a minute) and the check is skipped, as an
# unreachable cache must not take logins down.

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class _Counter:
    key: str
    limit: int

    @property
    def lock_key(self) -> str:
        return f"{self.key}:lock"


def _account_digest(email: str) -> str:
    return hashlib.sha256(identity_key(email).encode()).hexdigest()


def _counters(email: str, address: str | None) -> list[_Counter]:
    account = _account_digest(email)
    origin = address or "unknown"
    return [
        _Counter(f"login-fail:pair:{origin}:{account}", settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT),
        _Counter(f"login-fail:acct:{account}", settings.LOGIN_FAILURE_LIMIT_ACCOUNT_WIDE),
        _Counter(f"login-fail:addr:{origin}", settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS),
    ]


def _fail_open(default: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Answer `default` (allow the attempt) and log when the cache cannot be reached.

    Any exception: each cache backend raises its own client's errors (redis, memcached).
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except Exception as exc:
                log_at_most_every(
                    logger,
                    f"login-lockout:{function.__name__}",
                    60,
                    "login lockout skipped in %s: cache unavailable (%s)",
                    function.__name__,
                    type(exc).__name__,
                )
                return default

        return guarded

    return decorate


def _increment(key: str, timeout: int) -> int:
    if cache.add(key, 1, timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout)
        return 1


@_fail_open(None)
def login_blocked_for(*, email: str, address: str | None) -> int | None:
    """Seconds to wait before `email` may be tried from `address`, else None.

    Read before any password is hashed. The answer is the same whether or not the email exists.
    """
    counters = _counters(email, address)
    locks = cache.get_many([counter.lock_key for counter in counters])
    now = time.time()
    remaining = [until - now for until in locks.values() if until > now]
    return max(1, math.ceil(max(remaining))) if remaining else None


@_fail_open(True)
def login_attempt_start(*, email: str) -> bool:
    """Claim the account's one in-flight password check; False when another one is running.

    Checks of one account run one at a time, so parallel guesses cannot all pass the lock check
    before the first failure is counted.
    """
    return bool(cache.add(f"login-busy:{_account_digest(email)}", 1, 30))


@_fail_open(None)
def login_attempt_finish(*, email: str) -> None:
    cache.delete(f"login-busy:{_account_digest(email)}")


@_fail_open(None)
def login_failed(*, email: str, address: str | None) -> None:
    """Count a failure; a counter at its limit locks for the base time, doubled per failure."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for counter in _counters(email, address):
        count = _increment(counter.key, window)
        if count < counter.limit:
            continue
        lock = min(
            settings.LOGIN_FAILURE_BACKOFF_SECONDS * 2 ** min(count - counter.limit, 32),
            settings.LOGIN_FAILURE_BACKOFF_MAX_SECONDS,
        )
        cache.set(counter.lock_key, time.time() + lock, timeout=lock)
        # The count outlives the lock, so the next failure after it doubles it again.
        cache.touch(counter.key, window + lock)


@_fail_open(None)
def login_succeeded(*, email: str, address: str | None) -> None:
    """The account's own counters start over; the address-wide one does not."""
    pair, account, _address = _counters(email, address)
    cache.delete_many([pair.key, pair.lock_key, account.key, account.lock_key])


#: What a derived username keeps of an email's local part.
_USERNAME_UNSAFE = re.compile(r"[^\w.+-]")
_DERIVED_USERNAME_MAX = 90  # room for a numeric suffix within the column's 100


def username_from_email(*, email: str) -> str:
    """A free username derived from the email's local part (`ada`, then `ada-2`, `ada-3` ...).

    Decided against the usernames taken now; a concurrent registration deriving the same name
    loses on the unique constraint (409) and can simply retry.
    """
    base = _USERNAME_UNSAFE.sub("", email.rsplit("@", 1)[0])[:_DERIVED_USERNAME_MAX] or "user"
    candidate, suffix = base, 1
    while username_taken(username=candidate):
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate


@transaction.atomic
def user_register(*, email: str, password: str, username: str | None = None, **profile) -> User:
    """Create an account (the form has checked the password and that email and name are free)
    and mail it a verification link once the account is committed.

    A registration without a username gets one derived from the email.
    """
    username = username or username_from_email(email=email)
    user = User.objects.create_user(email=email, username=username, password=password, **profile)
    email_verification_request(user=user)
    return user


@transaction.atomic
def user_update_profile(*, user: User, **changes) -> User:
    """Change the caller's own profile fields."""
    for name, value in changes.items():
        setattr(user, name, value)
    user.save()
    return user
