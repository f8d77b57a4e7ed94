"""Invitation answers and the bodies of the account-email routes."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from crmApp.models import Invitation, User
from crmApp.selectors.users import username_taken
from crmApp.serializers.users import PASSWORDS_DIFFER, UserSerializer, _normalised_identifier

TOKEN_MAX_LENGTH = 255


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation as its organization sees it: the address as typed, never the profile of an
    account that may use it. `status` is `expired` for a pending invitation past its expiry."""

    role_name = serializers.CharField(
        source="role.name", read_only=True, default=None, allow_null=True
    )
    status = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "organization",
            "email",
            "role",
            "role_name",
            "status",
            "expires_at",
            "accepted_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_status(self, invitation: Invitation) -> str:
        if (
            invitation.status == Invitation.Status.PENDING
            and invitation.expires_at <= timezone.now()
        ):
            return "expired"
        return invitation.status


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=TOKEN_MAX_LENGTH)


class EmailSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=255)


class PasswordResetConfirmSerializer(TokenSerializer):
    """The new password is checked by the validators against the token's account in the
    service (the form does not know the account)."""

    new_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password_confirm = serializers.CharField(max_length=128, trim_whitespace=False)

    def validate(self, attrs):
        if attrs["new_password"] != attrs["new_password_confirm"]:
            raise serializers.ValidationError({"new_password": [PASSWORDS_DIFFER]})
        return attrs


REGISTRATION_FIELDS = ("username", "password", "password_confirm")


class InvitationAcceptSerializer(TokenSerializer):
    """The token, plus the registration fields when the invitee has no account (anonymous
    callers): the invited address becomes the account's email."""

    username = serializers.CharField(required=False, max_length=100)
    password = serializers.CharField(
        required=False, write_only=True, max_length=128, trim_whitespace=False
    )
    password_confirm = serializers.CharField(
        required=False, write_only=True, max_length=128, trim_whitespace=False
    )
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def validate_username(self, value: str) -> str:
        value = _normalised_identifier(value, 100)
        if username_taken(username=value):
            raise serializers.ValidationError("User with this username already exists.")
        return value

    def validate(self, attrs):
        if not self.context.get("register"):
            return {"token": attrs["token"]}
        missing = {name: ["This field is required."] for name in REGISTRATION_FIELDS}
        missing = {name: error for name, error in missing.items() if name not in attrs}
        if missing:
            raise serializers.ValidationError(missing)
        if attrs["password"] != attrs["password_confirm"]:
            raise serializers.ValidationError({"password": [PASSWORDS_DIFFER]})
        try:
            password_validation.validate_password(
                attrs["password"], User(username=attrs["username"])
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        attrs.pop("password_confirm")
        return attrs


class InvitationAcceptedSerializer(serializers.Serializer):
    """The accept answer; `user` only when the invitation created the account."""

    message = serializers.CharField()
    organization_id = serializers.IntegerField()
    user = UserSerializer(required=False)
