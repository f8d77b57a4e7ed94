"""Permissions, roles and user-role assignments (all per organization)."""

from collections import defaultdict

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.selectors.rbac import PermissionSelector, RoleSelector, UserRoleSelector
from crmApp.serializers.actions import PermissionIdBodySerializer
from crmApp.serializers.rbac import PermissionSerializer, RoleSerializer, UserRoleSerializer
from crmApp.serializers.schema import MessageSerializer, PermissionIdSerializer
from crmApp.services import rbac as services
from crmApp.viewsets.base import OrganizationScopedViewSet


class PermissionViewSet(OrganizationScopedViewSet):
    """Permissions of the caller's organizations.

    The seeded system permissions (every resource x action of the contract vocabulary) cannot be
    changed or deleted: both answer 400 `non_field_errors`, because the refusal is about the
    record, not about the caller's rights.
    """

    selector = PermissionSelector()
    serializer_classes = {"default": PermissionSerializer}
    ordering_fields = (
        "id",
        "organization",
        "resource",
        "action",
        "description",
        "is_system_permission",
        "created_at",
    )

    def create_record(self, data):
        return services.permission_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.permission_update(permission=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        services.permission_delete(permission=instance, actor=self.request.user)

    @extend_schema(
        responses={
            200: {
                "type": "object",
                "description": "Resource name -> its permissions.",
                "additionalProperties": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Permission"},
                },
            }
        }
    )
    @action(detail=False, methods=["get"])
    def by_resource(self, request):
        """Permissions grouped by resource name (the first 1000 by resource, action, id)."""
        permissions = self.selector.by_resource(self.get_queryset())
        grouped: dict[str, list] = defaultdict(list)
        for item in PermissionSerializer(
            permissions, many=True, context=self.get_serializer_context()
        ).data:
            grouped[item["resource"]].append(item)
        return Response(dict(grouped))


class RoleViewSet(OrganizationScopedViewSet):
    """Roles with their grants. System roles keep existing (delete is a 400). A role's name and
    description need `roles:update`; its grants (`permission_ids`, `assign_permission`,
    `remove_permission`) need `roles:manage`, and only permissions the caller holds can be
    granted (crmApp.services.rbac).
    """

    selector = RoleSelector()
    serializer_classes = {"default": RoleSerializer}
    ordering_fields = (
        "id",
        "organization",
        "name",
        "slug",
        "description",
        "is_system_role",
        "is_active",
        "created_at",
        "updated_at",
    )

    def create_record(self, data):
        return services.role_create(actor=self.request.user, access=self.access, **data)

    def update_record(self, instance, data):
        return services.role_update(
            role=instance, actor=self.request.user, access=self.access, **data
        )

    def destroy_record(self, instance):
        services.role_delete(role=instance, actor=self.request.user)

    def _permission_id(self) -> int:
        form = PermissionIdBodySerializer(data=self.request.data)
        form.is_valid(raise_exception=True)
        return form.validated_data["permission_id"]

    @extend_schema(request=PermissionIdSerializer, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def assign_permission(self, request, pk=None):
        role = self.get_object()
        services.role_grant_permission(
            role=role, permission_id=self._permission_id(), access=self.access
        )
        return Response({"message": "Permission assigned successfully."})

    @extend_schema(request=PermissionIdSerializer, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def remove_permission(self, request, pk=None):
        role = self.get_object()
        services.role_revoke_permission(
            role=role, permission_id=self._permission_id(), access=self.access
        )
        return Response({"message": "Permission removed successfully."})


class UserRoleViewSet(OrganizationScopedViewSet):
    """Role assignments. The user must be an active member and the role one of the same
    organization; `my_roles` lists the caller's own, in organizations of active memberships.
    """

    selector = UserRoleSelector()
    serializer_classes = {"default": UserRoleSerializer}
    ordering_fields = ("id", "user", "organization", "role", "is_active", "assigned_at")

    visible_across_memberships = frozenset({"my_roles"})  # own assignments; no roles:view

    def create_record(self, data):
        return services.user_role_create(actor=self.request.user, access=self.access, **data)

    def update_record(self, instance, data):
        return services.user_role_update(
            user_role=instance, actor=self.request.user, access=self.access, **data
        )

    def destroy_record(self, instance):
        services.user_role_delete(user_role=instance, actor=self.request.user)

    @extend_schema(responses=UserRoleSerializer(many=True))
    @action(detail=False, methods=["get"])
    def my_roles(self, request):
        """The caller's active role assignments (first 200 by id)."""
        user_roles = self.selector.mine(self.get_queryset(), user=request.user)
        serializer = UserRoleSerializer(
            user_roles, many=True, context=self.get_serializer_context()
        )
        return Response(serializer.data)
