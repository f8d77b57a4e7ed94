from crmApp.filters.base import StrictBooleanFilter, StrictFilterSet
from crmApp.models import WebhookEndpoint


class WebhookEndpointFilterSet(StrictFilterSet):
    is_active = StrictBooleanFilter(field_name="is_active")

    class Meta:
        model = WebhookEndpoint
        fields = ["is_active"]
