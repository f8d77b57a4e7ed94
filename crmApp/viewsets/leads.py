"""Placeholder: being implemented."""

from rest_framework import viewsets


class LeadViewSet(viewsets.ViewSet):
    pass
