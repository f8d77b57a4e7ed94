"""Placeholder: being implemented."""

from rest_framework import viewsets


class PermissionViewSet(viewsets.ViewSet):
    pass


class RoleViewSet(viewsets.ViewSet):
    pass


class UserRoleViewSet(viewsets.ViewSet):
    pass
