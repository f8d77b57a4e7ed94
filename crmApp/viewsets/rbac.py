"""Permissions, roles and user-role assignments (all per organization)."""

from collections import defaultdict

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from crmApp.exceptions import error_response
from crmApp.models import Permission, Role, RolePermission, UserRole
from crmApp.serializers.rbac import (
    SYSTEM_PERMISSION,
    PermissionSerializer,
    RoleSerializer,
    UserRoleSerializer,
)
from crmApp.serializers.schema import MessageSerializer, PermissionIdSerializer
from crmApp.services import rbac as rbac_service
from crmApp.viewsets.base import OrganizationScopedViewSet, parse_id

#: Caps on the unpaginated arrays (contract C5).
MAX_BY_RESOURCE = 1000
MAX_MY_ROLES = 200


def _grants_prefetch(path: str = "role_permissions") -> Prefetch:
    """A role's grants with their permission, in one query for any number of roles."""
    return Prefetch(
        path,
        queryset=RolePermission.objects.select_related("permission").order_by("permission_id"),
    )


class PermissionViewSet(OrganizationScopedViewSet):
    """Permissions of the caller's organizations.

    The seeded system permissions (every resource x action of the contract vocabulary) cannot be
    changed or deleted: both answer 400 `non_field_errors`, because the refusal is about the
    record, not about the caller's rights.
    """

    queryset = Permission.objects.all()
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

    def perform_destroy(self, instance):
        if instance.is_system_permission:
            raise ValidationError({"non_field_errors": [SYSTEM_PERMISSION]})
        instance.delete()

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
        permissions = self.get_queryset().order_by("resource", "action", "id")[:MAX_BY_RESOURCE]
        grouped: dict[str, list] = defaultdict(list)
        for item in PermissionSerializer(
            permissions, many=True, context=self.get_serializer_context()
        ).data:
            grouped[item["resource"]].append(item)
        return Response(dict(grouped))


class RoleViewSet(OrganizationScopedViewSet):
    """Roles with their grants. System roles keep existing (delete is a 400); their grants and
    descriptions may be edited by whoever holds `roles:manage`/`roles:update`.
    """

    queryset = Role.objects.all()
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

    def scope_queryset(self, queryset):
        return queryset.annotate(
            permission_count=rbac_service.role_permission_count()
        ).prefetch_related(_grants_prefetch())

    def perform_destroy(self, instance):
        if instance.is_system_role:
            raise ValidationError({"non_field_errors": ["System roles cannot be deleted."]})
        instance.delete()

    def _permission_id(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        raw = data.get("permission_id")
        if raw in (None, ""):
            return None
        return parse_id(raw, field="permission_id")

    @extend_schema(request=PermissionIdSerializer, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def assign_permission(self, request, pk=None):
        role = self.get_object()
        permission_id = self._permission_id(request)
        if permission_id is None:
            return error_response("permission_id is required", 400)
        try:
            rbac_service.role_grant_permission(role=role, permission_id=permission_id)
        except rbac_service.PermissionNotFound:
            return error_response("Permission not found", 404)
        return Response({"message": "Permission assigned successfully."})

    @extend_schema(request=PermissionIdSerializer, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def remove_permission(self, request, pk=None):
        role = self.get_object()
        permission_id = self._permission_id(request)
        if permission_id is None:
            return error_response("permission_id is required", 400)
        rbac_service.role_revoke_permission(role=role, permission_id=permission_id)
        return Response({"message": "Permission removed successfully."})


class UserRoleViewSet(OrganizationScopedViewSet):
    """Role assignments. The user must be an active member and the role one of the same
    organization; `my_roles` lists the caller's own, in organizations of active memberships.
    """

    queryset = UserRole.objects.all()
    serializer_classes = {"default": UserRoleSerializer}
    ordering_fields = ("id", "user", "organization", "role", "is_active", "assigned_at")

    def scope_queryset(self, queryset):
        return queryset.select_related("role").prefetch_related(
            _grants_prefetch("role__role_permissions")
        )

    def readable_organization_ids(self):
        if self.action == "my_roles":
            return self.access.member_org_ids  # own assignments; no roles:view needed
        return super().readable_organization_ids()

    def perform_create(self, serializer):
        self.check_organization_write(serializer.validated_data["organization"].pk)
        serializer.save(assigned_by=self.request.user)

    @extend_schema(responses=UserRoleSerializer(many=True))
    @action(detail=False, methods=["get"])
    def my_roles(self, request):
        """The caller's active role assignments (first 200 by id)."""
        user_roles = (
            self.get_queryset()
            .filter(user=request.user, is_active=True)
            .order_by("id")[:MAX_MY_ROLES]
        )
        serializer = UserRoleSerializer(
            user_roles, many=True, context=self.get_serializer_context()
        )
        return Response(serializer.data)
