"""Activity list item and detail; the detail is also the create/update form.

An activity belongs to exactly one customer, lead or deal of its own organization (checked like
every related id); its assignee is an employee of that organization. `completed_at` is set by
the `complete` and `reopen` actions only, and `created_by` is the caller.
"""

from rest_framework import serializers

from crmApp.models import Activity, Customer, Deal, Employee, Lead
from crmApp.models.activities import ACTIVITY_PARENTS
from crmApp.serializers.base import (
    CachedFieldsModelSerializer,
    ScopedRelatedField,
    TenantModelSerializer,
)

ONE_PARENT = "An activity belongs to exactly one customer, lead or deal."


class ActivitySerializer(TenantModelSerializer):
    assignee_id = ScopedRelatedField(
        source="assignee", queryset=Employee.objects.all(), required=False, allow_null=True
    )
    customer_id = ScopedRelatedField(
        source="customer", queryset=Customer.objects.all(), required=False, allow_null=True
    )
    lead_id = ScopedRelatedField(
        source="lead", queryset=Lead.objects.all(), required=False, allow_null=True
    )
    deal_id = ScopedRelatedField(
        source="deal", queryset=Deal.objects.all(), required=False, allow_null=True
    )
    assignee_name = serializers.SerializerMethodField()
    is_overdue = serializers.SerializerMethodField()

    class Meta:
        model = Activity
        fields = [
            "id",
            "organization",
            "type",
            "subject",
            "body",
            "due_at",
            "completed_at",
            "assignee_id",
            "assignee_name",
            "customer_id",
            "lead_id",
            "deal_id",
            "created_by",
            "is_overdue",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "completed_at", "created_by", "created_at", "updated_at"]

    def get_assignee_name(self, activity: Activity) -> str | None:
        employee = activity.assignee
        return employee.full_name if employee is not None else None

    def get_is_overdue(self, activity: Activity) -> bool:
        return activity.is_overdue

    def validate(self, attrs):
        attrs = super().validate(attrs)
        parents = {
            name: attrs[name] if name in attrs else getattr(self.instance, name, None)
            for name in ACTIVITY_PARENTS
        }
        if sum(parent is not None for parent in parents.values()) != 1:
            raise serializers.ValidationError({"non_field_errors": [ONE_PARENT]})
        return attrs


class ActivityListSerializer(CachedFieldsModelSerializer):
    assignee_name = serializers.SerializerMethodField()
    is_overdue = serializers.SerializerMethodField()

    class Meta:
        model = Activity
        fields = [
            "id",
            "type",
            "subject",
            "due_at",
            "completed_at",
            "assignee_id",
            "assignee_name",
            "customer_id",
            "lead_id",
            "deal_id",
            "is_overdue",
            "created_at",
        ]
        read_only_fields = fields

    def get_assignee_name(self, activity: Activity) -> str | None:
        employee = activity.assignee
        return employee.full_name if employee is not None else None

    def get_is_overdue(self, activity: Activity) -> bool:
        return activity.is_overdue


class ActivityPageSerializer(serializers.Serializer):
    """Documents a page of `my_tasks/` (the list pagination envelope)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ActivityListSerializer(many=True)


class ActivityStatsSerializer(serializers.Serializer):
    """The activity figures (schema only)."""

    open_tasks = serializers.IntegerField()
    overdue = serializers.IntegerField()
    done_this_week = serializers.IntegerField()
    by_assignee = serializers.ListField(child=serializers.DictField())
