from rest_framework import serializers

from crmApp.models import Permission, Role, User, UserOrganization, UserRole
from crmApp.permissions import ACTIONS, RESOURCES, get_access
from crmApp.selectors.rbac import DUPLICATE_ROLE, role_name_taken
from crmApp.serializers.base import ScopedRelatedField, TenantModelSerializer

MAX_ID = 2**63 - 1
MAX_PERMISSION_IDS = 500
DUPLICATE_PERMISSION = "The fields organization, resource, action must make a unique set."
SYSTEM_PERMISSION = "System permissions cannot be changed or deleted."
FIXED_PAIR = "The {field} of a permission cannot be changed after it is created."
DUPLICATE_USER_ROLE = "This user already has this role in this organization."
DOES_NOT_EXIST = 'Invalid pk "{pk}" - object does not exist.'


class PermissionSerializer(TenantModelSerializer):
    """Permission representation; `resource` and `action` use the contract vocabulary and are
    fixed once the permission exists (an update may repeat them, not change them).

    `is_system_permission` is read-only: a client cannot mark its own permissions as system ones
    (which would make them undeletable), nor unmark the seeded ones.
    """

    resource = serializers.ChoiceField(choices=RESOURCES)
    action = serializers.ChoiceField(choices=ACTIONS)

    class Meta:
        model = Permission
        fields = [
            "id",
            "organization",
            "resource",
            "action",
            "description",
            "is_system_permission",
            "created_at",
        ]
        read_only_fields = ["id", "is_system_permission", "created_at"]
        validators = []

    def validate(self, attrs):
        if self.instance is not None and self.instance.is_system_permission:
            raise serializers.ValidationError({"non_field_errors": [SYSTEM_PERMISSION]})
        attrs = super().validate(attrs)
        instance = self.instance
        if instance is not None:
            # The pair is fixed once created (the service refuses it too); said here first so a
            # change to a pair that already exists is not reported as a duplicate.
            fixed = {
                name: [FIXED_PAIR.format(field=name)]
                for name in ("resource", "action")
                if name in attrs and attrs[name] != getattr(instance, name)
            }
            if fixed:
                raise serializers.ValidationError(fixed)
        organization_id = instance.organization_id if instance else attrs["organization"].pk
        resource = attrs.get("resource", instance.resource if instance else None)
        action = attrs.get("action", instance.action if instance else None)
        duplicates = Permission.objects.filter(
            organization_id=organization_id, resource=resource, action=action
        )
        if instance is not None:
            duplicates = duplicates.exclude(pk=instance.pk)
        if duplicates.exists():
            raise serializers.ValidationError({"non_field_errors": [DUPLICATE_PERMISSION]})
        return attrs


class RoleSerializer(TenantModelSerializer):
    """Role representation with its granted permissions.

    The viewset prefetches `role_permissions` (with their permission) and annotates
    `permission_count`; nested uses (user-roles) prefetch the same path.
    `permission_ids` (write) sets the grants on create and replaces them on update; ids outside
    the role's organization are a 400 rather than silently ignored, so a client never believes a
    grant was made when it was not.
    """

    permissions = serializers.SerializerMethodField()
    permission_count = serializers.SerializerMethodField()
    permission_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        write_only=True,
        max_length=MAX_PERMISSION_IDS,
    )

    class Meta:
        model = Role
        fields = [
            "id",
            "organization",
            "name",
            "slug",
            "description",
            "is_system_role",
            "is_active",
            "created_at",
            "updated_at",
            "permissions",
            "permission_count",
            "permission_ids",
        ]
        read_only_fields = ["id", "slug", "is_system_role", "created_at", "updated_at"]
        validators = []

    def get_permissions(self, role: Role) -> list[dict]:
        granted = [grant.permission for grant in role.role_permissions.all()]
        return PermissionSerializer(granted, many=True, context=self.context).data

    def get_permission_count(self, role: Role) -> int:
        count = getattr(role, "permission_count", None)
        return count if count is not None else len(role.role_permissions.all())

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["permission_ids"] = [grant.permission_id for grant in instance.role_permissions.all()]
        return data

    def validate(self, attrs):
        attrs = super().validate(attrs)
        instance = self.instance
        organization_id = instance.organization_id if instance else attrs["organization"].pk
        name = attrs.get("name")
        if name is not None and role_name_taken(
            organization_id=organization_id,
            name=name,
            exclude_pk=instance.pk if instance else None,
        ):
            raise serializers.ValidationError({"name": [DUPLICATE_ROLE]})
        ids = attrs.pop("permission_ids", None)
        if ids is not None:
            found = {
                p.pk: p
                for p in Permission.objects.filter(organization_id=organization_id, pk__in=ids)
            }
            missing = [pk for pk in dict.fromkeys(ids) if pk not in found]
            if missing:
                raise serializers.ValidationError(
                    {"permission_ids": [DOES_NOT_EXIST.format(pk=pk) for pk in missing]}
                )
            attrs["permissions"] = [found[pk] for pk in dict.fromkeys(ids)]
        return attrs


class MemberUserField(serializers.PrimaryKeyRelatedField):
    """A user id among the active members of the caller's organizations.

    Any other id reads as nonexistent, so the form cannot be used to probe for accounts.
    """

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return User.objects.none()
        members = UserOrganization.objects.filter(
            organization_id__in=get_access(request).member_org_ids, is_active=True
        ).values("user_id")
        return User.objects.filter(pk__in=members)


class UserRoleSerializer(TenantModelSerializer):
    """User-role representation: the role nested with its permissions, `role_id` echoed."""

    user = MemberUserField()
    role = RoleSerializer(read_only=True)
    role_id = ScopedRelatedField(queryset=Role.objects.all(), source="role")

    class Meta:
        model = UserRole
        fields = ["id", "user", "organization", "role", "role_id", "is_active", "assigned_at"]
        read_only_fields = ["id", "assigned_at"]
        validators = []

    def validate(self, attrs):
        attrs = super().validate(attrs)
        instance = self.instance
        organization_id = instance.organization_id if instance else attrs["organization"].pk
        user = attrs.get("user", instance.user if instance else None)
        role = attrs.get("role", instance.role if instance else None)
        is_member = UserOrganization.objects.filter(
            user=user, organization_id=organization_id, is_active=True
        ).exists()
        if not is_member:
            raise serializers.ValidationError({"user": [DOES_NOT_EXIST.format(pk=user.pk)]})
        duplicates = UserRole.objects.filter(user=user, role=role, organization_id=organization_id)
        if instance is not None:
            duplicates = duplicates.exclude(pk=instance.pk)
        if duplicates.exists():
            raise serializers.ValidationError({"non_field_errors": [DUPLICATE_USER_ROLE]})
        return attrs
