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

from crmApp.serializers.schema import BulkDeleteSerializer, BulkResultSerializer
from crmApp.viewsets.base import parse_id

CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _parse_ids(raw) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise ValidationError({"ids": ["No IDs provided"]})
    if len(raw) > settings.BULK_MAX_ITEMS:
        raise ValidationError({"ids": [f"At most {settings.BULK_MAX_ITEMS} ids per request."]})
    ids = []
    for value in raw:
        if isinstance(value, bool):
            raise ValidationError({"ids": ["A valid integer is required."]})
        ids.append(parse_id(value, field="ids"))
    return list(dict.fromkeys(ids))


class _Echo:
    def write(self, value):
        return value


def _csv_cell(value):
    if value is None:
        return ""
    # JSON columns (tags) as JSON, not Python's repr (`['a']`).
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return "'" + text if text.startswith(CSV_FORMULA_PREFIXES) else text


class BulkActionsMixin:
    #: Fields `bulk_update` may change; anything else in `data` is a 400.
    bulk_update_fields: tuple[str, ...] = ()
    filter_actions = ("export_csv",)

    def _visible_rows(self, ids: list[int]) -> dict:
        rows = {row.pk: row for row in self.get_queryset().filter(pk__in=ids)}
        missing = [pk for pk in ids if pk not in rows]
        if missing:
            raise ValidationError(
                {"errors": {str(pk): ["Not found."] for pk in missing}, "ids": ["Unknown ids."]}
            )
        required = self.required()
        denied = [
            pk
            for pk, row in rows.items()
            if not self.access.has(self.organization_id_of(row), required)
            or self.organization_id_of(row) not in self.access.active_org_ids
        ]
        if denied:
            self.permission_denied(self.request)
        return rows

    @extend_schema(request=BulkDeleteSerializer, responses=BulkResultSerializer)
    @action(detail=False, methods=["post"])
    def bulk_delete(self, request):
        body = request.data if isinstance(request.data, dict) else {}
        ids = _parse_ids(body.get("ids"))
        rows = self._visible_rows(ids)
        count = (
            self.get_queryset()
            .filter(pk__in=list(rows))
            .delete()[1]
            .get(self.queryset.model._meta.label, 0)
        )
        return Response({"message": f"{count} items deleted successfully", "count": count})

    # The body lists the view's `bulk_update_fields` (crmApp.schema.EnvelopeAutoSchema).
    @extend_schema(responses=BulkResultSerializer)
    @action(detail=False, methods=["post"])
    def bulk_update(self, request):
        body = request.data if isinstance(request.data, dict) else {}
        if not body.get("ids") or not body.get("data"):
            raise ValidationError({"non_field_errors": ["IDs and data are required"]})
        data = body["data"]
        if not isinstance(data, dict):
            raise ValidationError({"data": ["Must be an object of field: value."]})
        outside = sorted(set(data) - set(self.bulk_update_fields))
        if outside:
            raise ValidationError(
                {"data": [f"Field not updatable in bulk: {name}." for name in outside]}
            )
        rows = self._visible_rows(_parse_ids(body["ids"]))
        serializer_class = self.serializer_classes.get("default", self.serializer_class)
        validated, errors = [], {}
        context = self.get_serializer_context()
        for pk, row in rows.items():
            serializer = serializer_class(row, data=data, partial=True, context=context)
            if serializer.is_valid():
                validated.append(serializer)
            else:
                errors[str(pk)] = serializer.errors
        if errors:
            raise ValidationError({"errors": errors})
        for serializer in validated:
            serializer.save()
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
        model = self.queryset.model
        fields = list(model._meta.concrete_fields)
        queryset = self.filter_queryset(self.get_queryset()).values_list(
            *[field.attname for field in fields]
        )[: settings.EXPORT_MAX_ROWS]
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow([field.name for field in fields])
            for row in queryset.iterator(chunk_size=2000):
                yield writer.writerow([_csv_cell(value) for value in row])

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{self.basename}_export.csv"'
        return response


class BulkIdsSerializer(serializers.Serializer):
    """Documents the bulk bodies (used by the schema)."""

    ids = serializers.ListField(child=serializers.IntegerField(min_value=1))
