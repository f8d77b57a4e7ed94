"""Bulk update, bulk delete and CSV export for list resources (customers, leads, deals).

Bulk writes are all-or-nothing: every id must be visible to the caller and writable, every row
must validate, or nothing is written and the answer lists the errors per id. Sizes are capped by
`BULK_MAX_ITEMS`; exports stream at most `EXPORT_MAX_ROWS` rows of the filtered list.
"""

import csv
import json

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from crmApp.csvfiles import FORMULA_PREFIXES
from crmApp.models.base import organization_id_of
from crmApp.permissions import write_refusal
from crmApp.serializers.actions import BulkDeleteBodySerializer, BulkUpdateBodySerializer
from crmApp.serializers.schema import BulkDeleteSerializer, BulkResultSerializer


class _Echo:
    def write(self, value):
        return value


def csv_cell(value):
    if value is None:
        return ""
    # JSON columns (tags) as JSON, not Python's repr (`['a']`).
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class BulkActionsMixin:
    #: Fields `bulk_update` may change; anything else in `data` is a 400.
    bulk_update_fields: tuple[str, ...] = ()
    filter_actions = ("export_csv",)

    def destroy_records(self, ids: list[int]) -> int:
        """Delete the rows with `ids` through the resource's service; the number deleted."""
        raise NotImplementedError

    def _visible_rows(self, ids: list[int]) -> dict:
        rows = {row.pk: row for row in self.get_queryset().filter(pk__in=ids)}
        missing = [pk for pk in ids if pk not in rows]
        if missing:
            raise ValidationError(
                {"errors": {str(pk): ["Not found."] for pk in missing}, "ids": ["Unknown ids."]}
            )
        required = self.required()
        if any(
            write_refusal(self.access, organization_id_of(row), required) is not None
            for row in rows.values()
        ):
            self.permission_denied(self.request)
        return rows

    @extend_schema(request=BulkDeleteSerializer, responses=BulkResultSerializer)
    @action(detail=False, methods=["post"])
    def bulk_delete(self, request):
        form = BulkDeleteBodySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        rows = self._visible_rows(form.validated_data["ids"])
        count = self.destroy_records(list(rows))
        return Response({"message": f"{count} items deleted successfully", "count": count})

    # The body lists the view's `bulk_update_fields` (crmApp.schema.EnvelopeAutoSchema).
    @extend_schema(responses=BulkResultSerializer)
    @action(detail=False, methods=["post"])
    def bulk_update(self, request):
        form = BulkUpdateBodySerializer(
            data=request.data, context={"allowed": self.bulk_update_fields}
        )
        form.is_valid(raise_exception=True)
        rows = self._visible_rows(form.validated_data["ids"])
        data = form.validated_data["data"]
        serializer_class = self.serializer_classes.get("default", self.serializer_class)
        validated, errors = [], {}
        context = self.get_serializer_context()
        for pk, row in rows.items():
            serializer = serializer_class(row, data=data, partial=True, context=context)
            if serializer.is_valid():
                validated.append((row, serializer.validated_data))
            else:
                errors[str(pk)] = serializer.errors
        if errors:
            raise ValidationError({"errors": errors})
        for row, changes in validated:
            self.update_record(row, dict(changes))
        count = len(validated)
        return Response({"message": f"{count} items updated successfully", "count": count})

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="A header row, then one row per record."
            )
        }
    )
    @action(detail=False, methods=["get"])
    def export_csv(self, request):
        header, values = self.selector.export_rows(
            self.filter_queryset(self.get_queryset()), limit=settings.EXPORT_MAX_ROWS
        )
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(header)
            for row in values:
                yield writer.writerow([csv_cell(value) for value in row])

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{self.basename}_export.csv"'
        return response


class BulkIdsSerializer(serializers.Serializer):
    """Documents the bulk bodies (used by the schema)."""

    ids = serializers.ListField(child=serializers.IntegerField(min_value=1))
