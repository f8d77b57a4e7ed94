"""Attachment list filters: the parent kind and the parent record."""

import django_filters
from django.db.models import Q

from crmApp.filters.base import IdFilter, StrictFilterSet
from crmApp.models import ATTACHMENT_PARENTS, Attachment


class AttachmentFilterSet(StrictFilterSet):
    parent_type = django_filters.ChoiceFilter(choices=[(k, k) for k in ATTACHMENT_PARENTS])
    parent_id = IdFilter(method="filter_parent_id")

    class Meta:
        model = Attachment
        fields = ["parent_type", "parent_id"]

    def filter_parent_id(self, queryset, name, value):
        kind = self.form.cleaned_data.get("parent_type")
        if kind:
            return queryset.filter(**{f"{kind}_id": value})
        condition = Q()
        for parent in ATTACHMENT_PARENTS:
            condition |= Q(**{f"{parent}_id": value})
        return queryset.filter(condition)
