"""`/api/activities/`: calls, meetings, emails, notes and tasks on customers, leads and deals."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.activities import ActivityFilterSet
from crmApp.selectors.activities import ActivitySelector
from crmApp.serializers.activities import (
    ActivityListSerializer,
    ActivityPageSerializer,
    ActivitySerializer,
    ActivityStatsSerializer,
)
from crmApp.services import activities as services
from crmApp.viewsets.base import OrganizationScopedViewSet


class ActivityViewSet(OrganizationScopedViewSet):
    selector = ActivitySelector()
    serializer_classes = {
        "default": ActivitySerializer,
        "list": ActivityListSerializer,
        "my_tasks": ActivityListSerializer,
    }
    filterset_class = ActivityFilterSet
    filter_actions = ("my_tasks",)
    search_fields = ["subject", "body"]
    ordering_fields = ["id", "type", "subject", "due_at", "completed_at", "created_at"]

    def create_record(self, data):
        return services.activity_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.activity_update(activity=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        services.activity_delete(activity=instance, actor=self.request.user)

    @extend_schema(request=None, responses=ActivitySerializer, summary="Mark an activity done")
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        activity = services.activity_complete(activity=self.get_object(), actor=request.user)
        return Response(self.serialize_detail(activity))

    @extend_schema(request=None, responses=ActivitySerializer, summary="Mark an activity open")
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        activity = services.activity_reopen(activity=self.get_object(), actor=request.user)
        return Response(self.serialize_detail(activity))

    @extend_schema(
        responses=ActivityPageSerializer,
        summary="The caller's open tasks, soonest due first",
    )
    @action(detail=False, methods=["get"])
    def my_tasks(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        rows = self.selector.my_tasks(queryset, user_id=request.user.pk)
        page = self.paginate_queryset(rows)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    @extend_schema(responses=ActivityStatsSerializer, summary="Task figures")
    @action(detail=False, methods=["get"])
    def stats(self, request):
        return Response(self.selector.stats(self.get_queryset()))
