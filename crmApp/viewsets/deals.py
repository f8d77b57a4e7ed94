"""Placeholder: being implemented."""

from rest_framework import viewsets


class DealViewSet(viewsets.ViewSet):
    pass
