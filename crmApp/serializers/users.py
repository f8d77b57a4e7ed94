from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from crmApp.identity import (
    DOMAIN_REFUSED,
    email_domain_refused,
    identity_key,
    normalise_spelling,
)
from crmApp.models import User, UserSession
from crmApp.selectors.users import email_taken, username_taken
from crmApp.serializers.base import CachedFieldsModelSerializer

#: The key columns' width (crmApp.models.users): an identifier whose normalised form is wider
#: is refused here rather than by the database.
KEY_MAX_LENGTH = User._meta.get_field("email_key").max_length
TOO_LONG = "Ensure this field has no more than {n} characters once normalised."


def _normalised_identifier(value: str, max_length: int) -> str:
    """The stored spelling (NFKC) of an identifier, refused when it or its key grows too long."""
    spelling = normalise_spelling(value)
    if len(spelling) > max_length or len(identity_key(spelling)) > KEY_MAX_LENGTH:
        raise serializers.ValidationError(TOO_LONG.format(n=max_length))
    return spelling


PASSWORDS_DIFFER = "Password fields didn't match."


class UserSerializer(CachedFieldsModelSerializer):
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "username",
            "first_name",
            "last_name",
            "full_name",
            "phone",
            "is_active",
            "is_verified",
            "is_staff",
            "two_factor_enabled",
            "last_login_at",
            "email_verified_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "email",
            "is_active",
            "is_verified",
            "is_staff",
            "two_factor_enabled",
            "last_login_at",
            "email_verified_at",
            "created_at",
            "updated_at",
        ]

    def validate_username(self, value: str) -> str:
        value = _normalised_identifier(value, 100)
        exclude_pk = self.instance.pk if self.instance is not None else None
        if username_taken(username=value, exclude_pk=exclude_pk):
            raise serializers.ValidationError("User with this username already exists.")
        return value


class ProfileSerializer(UserSerializer):
    """The caller's own profile: the user plus their mail preferences, which nobody else
    reads (the user nested in memberships and employees leaves them out)."""

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "notify_assignments", "notify_digest"]


class RegistrationSerializer(CachedFieldsModelSerializer):
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )
    password_confirm = serializers.CharField(write_only=True, max_length=128)

    class Meta:
        model = User
        fields = [
            "email",
            "username",
            "first_name",
            "last_name",
            "phone",
            "password",
            "password_confirm",
        ]
        # Without a username the account gets one derived from the email (user_register).
        extra_kwargs = {
            "email": {"validators": []},
            "username": {"validators": [], "required": False},
        }

    def validate_email(self, value: str) -> str:
        value = _normalised_identifier(value, 255)
        if email_domain_refused(value):
            raise serializers.ValidationError(DOMAIN_REFUSED)
        if email_taken(email=value):
            raise serializers.ValidationError("User with this email already exists.")
        return value

    def validate_username(self, value: str) -> str:
        value = _normalised_identifier(value, 100)
        if username_taken(username=value):
            raise serializers.ValidationError("User with this username already exists.")
        return value

    def validate(self, attrs):
        if attrs["password"] != attrs["password_confirm"]:
            raise serializers.ValidationError({"password": [PASSWORDS_DIFFER]})
        candidate = User(
            email=attrs["email"], username=attrs.get("username") or attrs["email"].split("@")[0]
        )
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=255)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class ChangePasswordSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password_confirm = serializers.CharField(max_length=128, trim_whitespace=False)

    def validate_old_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError("Old password is incorrect.")
        return value

    def validate_new_password(self, value: str) -> str:
        try:
            password_validation.validate_password(value, self.context["request"].user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value

    def validate(self, attrs):
        if attrs["new_password"] != attrs["new_password_confirm"]:
            raise serializers.ValidationError({"new_password": [PASSWORDS_DIFFER]})
        return attrs


class LogoutSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=2000)


class SessionSerializer(CachedFieldsModelSerializer):
    """A login session; the raw refresh token is never shown."""

    class Meta:
        model = UserSession
        fields = [
            "id",
            "user",
            "expires_at",
            "is_revoked",
            "revoked_at",
            "device_info",
            "ip_address",
            "created_at",
        ]
        read_only_fields = fields
