"""Webhook endpoint and delivery reads."""

from __future__ import annotations

from django.db.models import QuerySet

from crmApp.models import WebhookDelivery, WebhookEndpoint
from crmApp.selectors.base import ResourceSelector


class WebhookEndpointSelector(ResourceSelector):
    model = WebhookEndpoint


class WebhookDeliverySelector(ResourceSelector):
    model = WebhookDelivery


def endpoint_deliveries(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries, newest first (served by `webhook_deliv_endpoint`)."""
    return WebhookDelivery.objects.filter(
        endpoint_id=endpoint.pk, organization_id=endpoint.organization_id
    ).order_by("-created_at", "-id")
