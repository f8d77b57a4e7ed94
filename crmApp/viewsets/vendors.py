"""Placeholder: being implemented."""

from rest_framework import viewsets


class VendorViewSet(viewsets.ViewSet):
    pass
