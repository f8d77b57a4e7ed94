"""Attachment reads: which attachments a caller may see, by the kind of record they hang on."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Q, QuerySet

from crmApp.models import ATTACHMENT_PARENTS, Attachment
from crmApp.selectors.base import ResourceSelector


class AttachmentSelector(ResourceSelector):
    model = Attachment

    def detail(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("uploaded_by")

    @staticmethod
    def readable(
        queryset: QuerySet, organizations_by_kind: Mapping[str, frozenset[int]]
    ) -> QuerySet:
        """Only attachments whose parent kind the caller may read in their organization.

        `organizations_by_kind`: parent kind -> organizations where the caller holds the view
        permission of that kind's resource (an attachment is read like its parent record).
        """
        condition = Q(pk__in=[])
        for kind in ATTACHMENT_PARENTS:
            organization_ids = organizations_by_kind.get(kind, frozenset())
            if organization_ids:
                condition |= Q(parent_type=kind, organization_id__in=organization_ids)
        return queryset.filter(condition)


def attachment_parent(kind: str, organization_ids: frozenset[int], pk: int):
    """The record of `kind` with `pk` among `organization_ids`' rows, or None."""
    model = Attachment._meta.get_field(kind).related_model
    return (
        model._default_manager.filter(organization_id__in=organization_ids, pk=pk)  # type: ignore[union-attr]
        .only("id", "organization_id")
        .first()
    )
