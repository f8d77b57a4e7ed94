"""Every read of the API: per resource, the queryset of each action, list rows, counts, stats.

- `base.ResourceSelector`: the tenant filter, the per-action shapes, the answer after a write;
- one module per resource (`customers`, `leads`, `deals`, ...) with its selector;
- `rows`: the fast list rows (`values_list` tuples formatted by a spec);
- `counting`: counts that stay cheap on huge tenants, searched-list paging, cached figures;
- `relations`: what a model instance already holds of its relations.

Selectors import models and each other, never viewsets, serializers or DRF.
"""
