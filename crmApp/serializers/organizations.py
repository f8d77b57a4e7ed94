from rest_framework import serializers

from crmApp.models import Organization, User, UserOrganization
from crmApp.selectors.users import user_by_email
from crmApp.serializers.base import (
    BoundedModelSerializer,
    CachedFieldsModelSerializer,
    SettingsField,
    ZipCodeField,
)
from crmApp.serializers.users import UserSerializer

MAX_ID = 2**63 - 1
DOES_NOT_EXIST = 'Invalid pk "{pk}" - object does not exist.'
UNKNOWN_EMAIL = "No user with this email address."


class OrganizationSerializer(BoundedModelSerializer):
    """The organization representation; `member_count` is annotated by the viewset."""

    zip_code = ZipCodeField()
    settings = SettingsField(required=False)
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "industry",
            "website",
            "phone",
            "email",
            "address",
            "city",
            "state",
            "zip_code",
            "country",
            "settings",
            "subscription_plan",
            "subscription_status",
            "is_active",
            "created_at",
            "updated_at",
            "member_count",
        ]
        read_only_fields = [
            "id",
            "slug",
            "subscription_plan",
            "subscription_status",
            "created_at",
            "updated_at",
            "member_count",
        ]


class OrganizationCreateSerializer(OrganizationSerializer):
    """The create form: a new organization always starts active."""

    class Meta(OrganizationSerializer.Meta):
        read_only_fields = [*OrganizationSerializer.Meta.read_only_fields, "is_active"]


class MembershipSerializer(CachedFieldsModelSerializer):
    """The membership representation plus the `user_id` / `organization_id` echo keys.

    Lists annotate `organization_member_count` so the nested organization needs no query.
    """

    user = UserSerializer(read_only=True)
    organization = OrganizationSerializer(read_only=True)
    user_id = serializers.IntegerField(read_only=True)
    organization_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = UserOrganization
        fields = [
            "id",
            "user",
            "organization",
            "is_active",
            "is_owner",
            "joined_at",
            "user_id",
            "organization_id",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        count = getattr(instance, "organization_member_count", None)
        if count is not None:
            instance.organization.member_count = count
        return super().to_representation(instance)


class MemberUserField(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class AddMemberSerializer(serializers.Serializer):
    """`add_member` body: the user by `user_id` or `email`, and the membership flags."""

    user_id = MemberUserField()
    email = serializers.EmailField(required=False, max_length=255)
    is_owner = serializers.BooleanField(default=False)
    is_active = serializers.BooleanField(default=True)

    def validate(self, attrs):
        user_id, email = attrs.get("user_id"), attrs.get("email")
        if user_id is None and not email:
            raise serializers.ValidationError({"user_id": ["This field is required."]})
        if user_id is not None:
            user = User.objects.filter(pk=user_id, is_active=True).first()
            if user is None:
                raise serializers.ValidationError({"user_id": [DOES_NOT_EXIST.format(pk=user_id)]})
        else:
            user = user_by_email(email=email, active_only=True)
            if user is None:
                raise serializers.ValidationError({"email": [UNKNOWN_EMAIL]})
        attrs["user"] = user
        return attrs


class MembershipCreateSerializer(AddMemberSerializer):
    """`POST user-organizations/`: `add_member` with the organization in the body.

    The organization must be one where the caller is an active member (else 400, the same answer
    as for a missing one); the right to add members there is checked by the view.
    """

    organization_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    def validate_organization_id(self, value: int) -> int:
        if value not in self.context["member_org_ids"]:
            raise serializers.ValidationError(DOES_NOT_EXIST.format(pk=value))
        return value


class MembershipUpdateSerializer(serializers.Serializer):
    """PUT/PATCH `user-organizations/{id}/`: only the flags change; user and organization stay."""

    is_active = serializers.BooleanField(required=False)
    is_owner = serializers.BooleanField(required=False)
    user_id = MemberUserField()
    organization_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def validate_user_id(self, value: int) -> int:
        if value != self.instance.user_id:
            raise serializers.ValidationError("The user of a membership cannot be changed.")
        return value

    def validate_organization_id(self, value: int) -> int:
        if value != self.instance.organization_id:
            raise serializers.ValidationError("The organization of a membership cannot be changed.")
        return value


class RemoveMemberSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class MembershipHintSerializer(serializers.Serializer):
    """The organization a membership create names, read before the body is validated."""

    organization_id = serializers.IntegerField(required=False)
