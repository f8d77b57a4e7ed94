"""Placeholder: being implemented."""

from rest_framework import viewsets


class CustomerViewSet(viewsets.ViewSet):
    pass
