"""Outbox events as clients read them (read-only)."""

from rest_framework import serializers

from crmApp.models import Event


class EventSerializer(serializers.ModelSerializer):
    snapshot = serializers.JSONField(
        read_only=True, help_text="The record's fields as they were right after the change."
    )

    class Meta:
        model = Event
        fields = [
            "id",
            "organization",
            "type",
            "resource",
            "resource_id",
            "actor",
            "request_id",
            "created_at",
            "snapshot",
        ]
        read_only_fields = fields
