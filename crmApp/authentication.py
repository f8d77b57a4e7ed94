"""JWT authentication whose tokens can be revoked before they expire.

simplejwt only blacklists refresh tokens. Every token we mint carries `sid`, the id of the
`UserSession` it belongs to; a request is accepted only while that session is not revoked and the
token was issued after the user's last password change. The session and its user are read in one
indexed query, which replaces simplejwt's own user lookup.
"""

from functools import lru_cache

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from crmApp.addresses import client_address
from crmApp.db import hot_cursor
from crmApp.models import User, UserSession
from crmApp.permissions.access import ACCESS_COLUMNS, ACCESS_SQL, PRELOADED_ACCESS_ROWS
from crmApp.selectors.users import user_by_email
from crmApp.services import auth as auth_service


@lru_cache(maxsize=32)
def session_user_query(db) -> tuple[str, tuple[str, ...], tuple[tuple, ...]]:
    """SQL for the user of a live session with the user's access rows, the user's attribute
    names and per-column converters.

    Written once per database connection object (one per thread): every authenticated request
    runs it, and compiling the equivalent `select_related` queryset cost ~1 ms per request,
    three times the query itself. The converters are those the ORM applies (SQLite returns
    datetimes as text).

    The access query (memberships and role grants, `ACCESS_SQL`) rides along as an outer join,
    one row per access row with the user's columns repeated: every authenticated request
    needs both, and one statement instead of two saves a round trip per request. A revoked
    session still answers no row at all.
    """
    quote = db.ops.quote_name
    fields = User._meta.concrete_fields
    columns = ", ".join(f"u.{quote(field.column)}" for field in fields)
    access_columns = ", ".join(f"a.{name}" for name in ACCESS_COLUMNS)
    sql = (
        f"SELECT {columns}, {access_columns} FROM {quote(UserSession._meta.db_table)} s "
        f"JOIN {quote(User._meta.db_table)} u ON u.id = s.user_id "
        f"LEFT JOIN ({ACCESS_SQL}) a ON 1 = 1 "
        "WHERE s.id = %(session)s AND s.user_id = %(user)s AND s.is_revoked = %(no)s"
    )
    converters = []
    for field in fields:
        column = field.get_col(User._meta.db_table)
        converters.append(
            (
                column,
                (*db.ops.get_db_converters(column), *column.get_db_converters(db)),
            )
        )
    return sql, tuple(field.attname for field in fields), tuple(converters)


def session_user(session_id: int, user_id: int) -> User | None:
    """The user of session `session_id` when it is not revoked and belongs to `user_id`, with
    the user's access rows attached (`PRELOADED_ACCESS_ROWS`, read by `resolve_access`)."""
    db = connections[DEFAULT_DB_ALIAS]
    sql, attnames, converters = session_user_query(db)
    with hot_cursor() as cursor:
        cursor.execute(sql, {"session": session_id, "user": user_id, "no": False, "yes": True})
        rows = cursor.fetchall()
    if not rows:
        return None
    width = len(converters)
    values = []
    for value, (column, column_converters) in zip(rows[0][:width], converters, strict=True):
        for convert in column_converters:
            value = convert(value, column, db)
        values.append(value)
    user = User.from_db(db.alias, attnames, values)
    setattr(user, PRELOADED_ACCESS_ROWS, [row[width:] for row in rows])
    return user


#: Where a request keeps what authentication found, so that a second authentication of the same
#: request (the idempotency middleware, then the view) reads the session once.
AUTHENTICATED_ATTRIBUTE = "_crm_authenticated"


class RevocableJWTAuthentication(JWTAuthentication):
    www_authenticate_realm = "api"

    def authenticate(self, request):
        django_request = getattr(request, "_request", request)
        header = self.get_header(request)
        found = getattr(django_request, AUTHENTICATED_ATTRIBUTE, None)
        if found is not None and found[0] == header:
            return found[1]
        result = super().authenticate(request)
        setattr(django_request, AUTHENTICATED_ATTRIBUTE, (header, result))
        return result

    def get_user(self, validated_token):
        session_id = validated_token.get("sid")
        user_id = validated_token.get("user_id")
        if type(session_id) is not int or type(user_id) is not int:  # not bool
            raise InvalidToken(_("Token contained no recognizable user identification"))
        user = session_user(session_id, user_id)
        if user is None:
            raise AuthenticationFailed(_("Token has been revoked"), code="token_revoked")
        if not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        changed = user.password_changed_at
        if changed is not None and validated_token.get("iat", 0) < int(changed.timestamp()):
            raise AuthenticationFailed(_("Token has been revoked"), code="token_revoked")
        return user


#: The request attribute where the backend leaves the seconds to wait after refusing a login
#: unchecked (too many failures); the API answers 429 with it, the admin login page too.
LOGIN_WAIT_ATTRIBUTE = "login_retry_after"


def login_retry_after(request) -> int | None:
    return getattr(request, LOGIN_WAIT_ATTRIBUTE, None)


class EmailBackend(ModelBackend):
    """Log in by email (compared by identity key), under the failed-login limits.

    Every login goes through here (the API and the Django admin), so the limits live here: they
    are read before the password is hashed, so a locked account or address costs no hashing and
    cannot be tried at all, with the right password or not.
    """

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        email = email or username
        if not email or password is None:
            return None
        address = client_address(request) if request is not None else None
        wait = auth_service.login_blocked_for(email=email, address=address)
        if wait is None and not auth_service.login_attempt_start(email=email):
            wait = 1  # another check of this account is running right now
        if wait is not None:
            if request is not None:
                setattr(request, LOGIN_WAIT_ATTRIBUTE, wait)
            # Stops the other backends; django.contrib.auth.authenticate() then answers None.
            raise PermissionDenied
        try:
            user = self._check_password(email, password)
        finally:
            auth_service.login_attempt_finish(email=email)
        if user is None:
            auth_service.login_failed(email=email, address=address)
        else:
            auth_service.login_succeeded(email=email, address=address)
        return user

    def _check_password(self, email: str, password: str) -> User | None:
        user = user_by_email(email=email)
        if user is None:
            User().set_password(password)  # same cost whether or not the account exists
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
