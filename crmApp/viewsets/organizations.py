"""Placeholder: being implemented."""

from rest_framework import viewsets


class OrganizationViewSet(viewsets.ViewSet):
    pass


class MembershipViewSet(viewsets.ViewSet):
    pass
