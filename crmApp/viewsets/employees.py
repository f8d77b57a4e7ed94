"""Placeholder: being implemented."""

from rest_framework import viewsets


class EmployeeViewSet(viewsets.ViewSet):
    pass
