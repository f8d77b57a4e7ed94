"""Webhook endpoints (the form and the detail) and their deliveries."""

from rest_framework import serializers

from crmApp.models import WebhookDelivery, WebhookEndpoint
from crmApp.models.events import EVENT_TYPES
from crmApp.serializers.base import CachedFieldsModelSerializer, TenantModelSerializer


class WebhookEndpointSerializer(TenantModelSerializer):
    """Never shows the secret: it is readable only in the create and rotate_secret answers."""

    url = serializers.URLField(max_length=2000)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        required=False,
        max_length=len(EVENT_TYPES),
        help_text="Event types to receive; empty (the default) means every type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "organization",
            "url",
            "description",
            "event_types",
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]

    def validate_url(self, value: str) -> str:
        # The address check (DNS, private ranges) is the service's; this is only the form.
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Only http and https URLs are allowed.")
        return value

    def validate_event_types(self, value: list[str]) -> list[str]:
        return sorted(set(value))


class WebhookEndpointSecretSerializer(WebhookEndpointSerializer):
    """The create and rotate_secret answers: the detail plus the secret, shown this once."""

    secret = serializers.CharField(read_only=True)

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(CachedFieldsModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "event_type",
            "status",
            "attempts",
            "response_code",
            "latency_ms",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "redelivery_of",
            "created_at",
        ]
        read_only_fields = fields


class WebhookDeliveryPageSerializer(serializers.Serializer):
    """Documents a page of `deliveries/` (the list pagination envelope)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = WebhookDeliverySerializer(many=True)
