from rest_framework import serializers

from crmApp.identity import DOMAIN_REFUSED, email_domain_refused, normalise_spelling
from crmApp.models import Organization, Role, UserOrganization
from crmApp.selectors.users import user_addable_by
from crmApp.serializers.base import (
    BoundedModelSerializer,
    CachedFieldsModelSerializer,
    SettingsField,
    ZipCodeField,
)
from crmApp.serializers.users import UserSerializer

MAX_ID = 2**63 - 1
DOES_NOT_EXIST = 'Invalid pk "{pk}" - object does not exist.'


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


OWNERSHIP_ON_ADD = (
    "Ownership cannot be granted when adding a member; an owner grants it by updating the "
    "membership."
)
ONE_OF = "Give either user_id or email, not both."


class AddMemberSerializer(serializers.Serializer):
    """`add_member` body: who (`email` invites, `user_id` adds directly), an optional role of the
    organization, and the membership flags.

    `user_id` finds only an active, verified account that already shares an active organization
    with the caller; any other id reads exactly like a missing one. `email` is never looked up:
    it becomes an invitation. Nobody becomes an owner through an add (`is_owner: true` is a 400).
    The context carries the caller's id (`actor_id`) and, for `add_member`, the organization.
    """

    user_id = MemberUserField()
    email = serializers.EmailField(required=False, max_length=255)
    role_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    is_owner = serializers.BooleanField(default=False)
    is_active = serializers.BooleanField(default=True)

    def validate_email(self, value: str) -> str:
        value = normalise_spelling(value)
        if email_domain_refused(value):
            raise serializers.ValidationError(DOMAIN_REFUSED)
        return value

    def validate_is_owner(self, value: bool) -> bool:
        if value:
            raise serializers.ValidationError(OWNERSHIP_ON_ADD)
        return value

    def organization_for_role(self, attrs) -> int | None:
        return self.context.get("organization_id")

    def validate(self, attrs):
        user_id, email = attrs.get("user_id"), attrs.get("email")
        if user_id is None and not email:
            raise serializers.ValidationError({"user_id": ["This field is required."]})
        if user_id is not None and email:
            raise serializers.ValidationError({"non_field_errors": [ONE_OF]})
        attrs["user"] = None
        if user_id is not None:
            user = user_addable_by(user_id=user_id, actor_id=self.context["actor_id"])
            if user is None:
                raise serializers.ValidationError({"user_id": [DOES_NOT_EXIST.format(pk=user_id)]})
            attrs["user"] = user
        attrs["role"] = None
        role_id = attrs.pop("role_id", None)
        if role_id is not None:
            role = Role.objects.filter(
                pk=role_id, organization_id=self.organization_for_role(attrs), is_active=True
            ).first()
            if role is None:
                raise serializers.ValidationError({"role_id": [DOES_NOT_EXIST.format(pk=role_id)]})
            attrs["role"] = role
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

    def organization_for_role(self, attrs) -> int | None:
        return attrs.get("organization_id")


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
