from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from crmApp.models import User, UserSession
from crmApp.serializers.base import CachedFieldsModelSerializer

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
        taken = User.objects.filter(username__iexact=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("User with this username already exists.")
        return value


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
        extra_kwargs = {"email": {"validators": []}, "username": {"validators": []}}

    def validate_email(self, value: str) -> str:
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("User with this email already exists.")
        return value

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("User with this username already exists.")
        return value

    def validate(self, attrs):
        if attrs["password"] != attrs["password_confirm"]:
            raise serializers.ValidationError({"password": [PASSWORDS_DIFFER]})
        candidate = User(email=attrs["email"], username=attrs["username"])
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
