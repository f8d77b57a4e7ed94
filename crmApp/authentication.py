"""JWT authentication whose tokens can be revoked before they expire.

simplejwt only blacklists refresh tokens. Every token we mint carries `sid`, the id of the
`UserSession` it belongs to; a request is accepted only while that session is not revoked and the
token was issued after the user's last password change. The session and its user are read in one
indexed query, which replaces simplejwt's own user lookup.
"""

from functools import lru_cache

from django.contrib.auth.backends import ModelBackend
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from crmApp.db import hot_cursor
from crmApp.models import User, UserSession


@lru_cache(maxsize=32)
def session_user_query(db) -> tuple[str, tuple[str, ...], tuple[tuple, ...]]:
    """SQL for the user of a live session, its attribute names and per-column converters.

    Written once per database connection object (one per thread): every authenticated request
    runs it, and compiling the equivalent `select_related` queryset cost ~1 ms per request,
    three times the query itself. The converters are those the ORM applies (SQLite returns
    datetimes as text).
    """
    quote = db.ops.quote_name
    fields = User._meta.concrete_fields
    columns = ", ".join(f"u.{quote(field.column)}" for field in fields)
    sql = (
        f"SELECT {columns} FROM {quote(UserSession._meta.db_table)} s "
        f"JOIN {quote(User._meta.db_table)} u ON u.id = s.user_id "
        "WHERE s.id = %s AND s.user_id = %s AND s.is_revoked = %s"
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
    """The user of session `session_id` when it is not revoked and belongs to `user_id`."""
    db = connections[DEFAULT_DB_ALIAS]
    sql, attnames, converters = session_user_query(db)
    with hot_cursor() as cursor:
        cursor.execute(sql, [session_id, user_id, False])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (column, column_converters) in zip(row, converters, strict=True):
        for convert in column_converters:
            value = convert(value, column, db)
        values.append(value)
    return User.from_db(db.alias, attnames, values)


class RevocableJWTAuthentication(JWTAuthentication):
    www_authenticate_realm = "api"

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


class EmailBackend(ModelBackend):
    """Log in by email, case-insensitively (the stored spelling is kept)."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        email = email or username
        if not email or password is None:
            return None
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            User().set_password(password)  # same cost whether or not the account exists
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
