"""Roles, permissions, grants and role assignments, all per organization."""

from django.db import models

from crmApp.models.base import TimeStampedModel


class Role(TimeStampedModel):
    TENANT_PATH = "organization_id"

    # Looked up through uniq_role_slug, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="roles", db_index=False
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    description = models.TextField(null=True, blank=True)
    is_system_role = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "roles"
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="uniq_role_slug"),
        ]

    def __str__(self) -> str:
        return self.name


class Permission(TimeStampedModel):
    TENANT_PATH = "organization_id"

    # Looked up through uniq_permission, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="permissions", db_index=False
    )
    resource = models.CharField(max_length=100)
    action = models.CharField(max_length=50)
    description = models.TextField(null=True, blank=True)
    is_system_permission = models.BooleanField(default=False)

    class Meta:
        db_table = "permissions"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "resource", "action"], name="uniq_permission"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource}:{self.action}"


class RolePermission(TimeStampedModel):
    TENANT_PATH = "role__organization_id"

    # Looked up through uniq_role_permission, which leads with it.
    role = models.ForeignKey(
        Role, on_delete=models.CASCADE, related_name="role_permissions", db_index=False
    )
    permission = models.ForeignKey(
        Permission, on_delete=models.CASCADE, related_name="role_permissions"
    )

    class Meta:
        db_table = "role_permissions"
        constraints = [
            models.UniqueConstraint(fields=["role", "permission"], name="uniq_role_permission")
        ]


class UserRole(TimeStampedModel):
    TENANT_PATH = "organization_id"

    # Looked up through uniq_user_role, which leads with it.
    user = models.ForeignKey(
        "crmApp.User", on_delete=models.CASCADE, related_name="user_roles", db_index=False
    )
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="user_roles")
    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="user_roles"
    )
    is_active = models.BooleanField(default=True)
    assigned_at = models.DateTimeField(auto_now_add=True)
    assigned_by = models.ForeignKey(
        "crmApp.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_roles",
    )

    class Meta:
        db_table = "user_roles"
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "organization"], name="uniq_user_role")
        ]
        indexes = [models.Index(fields=["user", "organization"])]
