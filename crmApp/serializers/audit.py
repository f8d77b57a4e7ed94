"""Audit rows as clients read them (read-only)."""

from rest_framework import serializers

from crmApp.models import AuditEvent


class AuditActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return f"{user.first_name} {user.last_name}".strip() or user.username


class AuditEventSerializer(serializers.ModelSerializer):
    actor = AuditActorSerializer(read_only=True, allow_null=True)
    changes = serializers.JSONField(
        read_only=True,
        help_text='Changed fields: `{"field": {"old": ..., "new": ...}}` (never a secret).',
    )

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "organization",
            "actor",
            "request_id",
            "action",
            "resource",
            "record_id",
            "changes",
            "created_at",
        ]
        read_only_fields = fields
