"""Placeholder: being implemented."""

from rest_framework import viewsets


class PipelineViewSet(viewsets.ViewSet):
    pass


class PipelineStageViewSet(viewsets.ViewSet):
    pass
