"""JWT authentication whose tokens can be revoked before they expire.

simplejwt only blacklists refresh tokens. Every token we mint carries `sid`, the id of the
`UserSession` it belongs to; a request is accepted only while that session is not revoked and the
token was issued after the user's last password change. The session and its user are read in one
indexed query, which replaces simplejwt's own user lookup.
"""

from django.contrib.auth.backends import ModelBackend
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from crmApp.models import User, UserSession


class RevocableJWTAuthentication(JWTAuthentication):
    www_authenticate_realm = "api"

    def get_user(self, validated_token):
        session_id = validated_token.get("sid")
        user_id = validated_token.get("user_id")
        if session_id is None or user_id is None:
            raise InvalidToken(_("Token contained no recognizable user identification"))
        session = (
            UserSession.objects.select_related("user")
            .filter(pk=session_id, user_id=user_id, is_revoked=False)
            .first()
        )
        if session is None:
            raise AuthenticationFailed(_("Token has been revoked"), code="token_revoked")
        user = session.user
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
