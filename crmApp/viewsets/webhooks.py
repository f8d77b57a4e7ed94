"""`/api/webhooks/` (endpoints, their secret, ping and deliveries) and
`/api/webhook-deliveries/{id}/` (one delivery, redeliver)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.webhooks import WebhookEndpointFilterSet
from crmApp.selectors.webhooks import (
    WebhookDeliverySelector,
    WebhookEndpointSelector,
    endpoint_deliveries,
)
from crmApp.serializers.webhooks import (
    WebhookDeliveryPageSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointSecretSerializer,
    WebhookEndpointSerializer,
)
from crmApp.services import webhooks as services
from crmApp.viewsets.base import OrganizationScopedMixin, OrganizationScopedViewSet


class WebhookEndpointViewSet(OrganizationScopedViewSet):
    selector = WebhookEndpointSelector()
    serializer_classes = {"default": WebhookEndpointSerializer}
    filterset_class = WebhookEndpointFilterSet
    search_fields = ["url", "description"]
    ordering_fields = ["id", "url", "is_active", "created_at"]

    def create_record(self, data):
        return services.webhook_endpoint_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.webhook_endpoint_update(endpoint=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        services.webhook_endpoint_delete(endpoint=instance, actor=self.request.user)

    def with_secret(self, endpoint) -> dict:
        return {**self.detail_data(endpoint, as_written=True), "secret": endpoint.secret}

    @extend_schema(responses={201: WebhookEndpointSecretSerializer})
    def create(self, request, *args, **kwargs):
        """Create an endpoint. The answer holds its signing `secret`, shown only this once."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_organization_write(serializer.organization_id)
        endpoint = self.create_record(dict(serializer.validated_data))
        return Response(self.with_secret(endpoint), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=WebhookEndpointSecretSerializer)
    @action(detail=True, methods=["post"])
    def rotate_secret(self, request, pk=None):
        """Replace the signing secret; the answer shows the new one, only this once."""
        endpoint = services.webhook_endpoint_rotate_secret(
            endpoint=self.get_object(), actor=request.user
        )
        return Response(self.with_secret(endpoint))

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Queue a `ping` delivery to the endpoint; follow it in `deliveries/`."""
        delivery = services.webhook_endpoint_ping(endpoint=self.get_object(), actor=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=WebhookDeliveryPageSerializer)
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        """The endpoint's delivery attempts, newest first (paginated)."""
        page = self.paginate_queryset(endpoint_deliveries(self.get_object()))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


class WebhookDeliveryViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Every delivery of the organization (`list`, oldest first; `?ordering=-id` for newest),
    one delivery, and redeliver."""

    selector = WebhookDeliverySelector()
    serializer_class = WebhookDeliverySerializer
    ordering_fields = ["id", "created_at", "status"]

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        """Send the delivery's body again (same event id) as a new delivery."""
        delivery = services.webhook_delivery_redeliver(
            delivery=self.get_object(), actor=request.user
        )
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
