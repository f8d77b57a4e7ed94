"""CSV imports: the upload form (file, resource, mapping, mode) and the job as clients see it."""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import serializers

from crmApp.csvfiles import (
    CsvFormatError,
    detect_delimiter,
    detect_encoding,
    first_line,
    read_header,
)
from crmApp.errors import TooLarge
from crmApp.models import ImportJob
from crmApp.serializers.base import OrganizationField
from crmApp.serializers.customers import CustomerSerializer
from crmApp.serializers.leads import LeadSerializer
from crmApp.uploads import safe_file_name

#: resource -> the API form every imported row is validated with (create and update alike).
IMPORT_FORMS: dict[str, type[serializers.ModelSerializer]] = {
    "customers": CustomerSerializer,
    "leads": LeadSerializer,
}
FILE_TOO_LARGE = "The file is larger than the {limit} bytes an import may have."


def importable_fields(resource: str) -> dict[str, serializers.Field]:
    """The fields of the resource's form a column may fill (writable, organization excluded)."""
    form = IMPORT_FORMS[resource]()
    return {
        name: field
        for name, field in form.fields.items()
        if not field.read_only and name != "organization"
    }


def required_fields(resource: str) -> list[str]:
    return sorted(name for name, field in importable_fields(resource).items() if field.required)


class ImportJobSerializer(serializers.ModelSerializer):
    created_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    mapping = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "organization",
            "resource",
            "mode",
            "match_on",
            "dry_run",
            "mapping",
            "file_name",
            "file_size",
            "encoding",
            "delimiter",
            "status",
            "rows_total",
            "rows_read",
            "rows_created",
            "rows_updated",
            "rows_unchanged",
            "rows_failed",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportUploadSerializer(serializers.Serializer):
    """`multipart/form-data`. `mapping` is a JSON object `{"CSV column": "field"}`; without it,
    columns named like a field of the resource's form fill that field and others are ignored.
    An upsert matches existing records on `match_on` (email, case-insensitive, or external id),
    which must be mapped; every mapping must cover the form's required fields."""

    file = serializers.FileField(allow_empty_file=False, use_url=False)
    resource = serializers.ChoiceField(choices=ImportJob.Resource.choices)
    mode = serializers.ChoiceField(choices=ImportJob.Mode.choices, default=ImportJob.Mode.CREATE)
    match_on = serializers.ChoiceField(
        choices=ImportJob.MatchOn.choices, default=ImportJob.MatchOn.EXTERNAL_ID
    )
    dry_run = serializers.BooleanField(default=False)
    mapping = serializers.CharField(
        required=False, max_length=20_000, help_text='A JSON object: {"CSV column": "field"}.'
    )
    organization = OrganizationField(allow_null=True)

    def validate_file(self, file):
        if file.size > settings.IMPORT_MAX_BYTES:
            raise TooLarge(FILE_TOO_LARGE.format(limit=settings.IMPORT_MAX_BYTES))
        encoding = detect_encoding(file)
        delimiter = detect_delimiter(first_line(file, encoding))
        try:
            columns, _offset = read_header(file, encoding=encoding, delimiter=delimiter)
        except CsvFormatError as exc:
            raise serializers.ValidationError(str(exc)) from None
        file.seek(0)
        file.csv_format = (encoding, delimiter, columns)
        return file

    def validate_mapping(self, value: str) -> dict:
        try:
            mapping = json.loads(value)
        except ValueError:
            raise serializers.ValidationError("Must be a JSON object.") from None
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise serializers.ValidationError("Must be a JSON object of column -> field names.")
        return mapping

    def validate(self, attrs):
        encoding, delimiter, columns = attrs["file"].csv_format
        resource = attrs["resource"]
        fields = importable_fields(resource)
        mapping = attrs.get("mapping")
        if mapping is None:
            mapping = {column: column for column in columns if column in fields}
        errors = []
        for column, field in mapping.items():
            if column not in columns:
                errors.append(f"Column {column!r} is not in the file's header.")
            if field not in fields:
                errors.append(f"{field!r} is not a field of {resource} that can be imported.")
        targets = list(mapping.values())
        for field in sorted({f for f in targets if targets.count(f) > 1}):
            errors.append(f"Field {field!r} is mapped from more than one column.")
        for field in required_fields(resource):
            if field not in targets:
                errors.append(f"Required field {field!r} is not mapped.")
        if attrs["mode"] == ImportJob.Mode.UPSERT and attrs["match_on"] not in targets:
            errors.append(f"An upsert on {attrs['match_on']} needs that field mapped.")
        if errors:
            raise serializers.ValidationError({"mapping": errors})
        attrs.update(
            mapping=mapping,
            columns=columns,
            encoding=encoding,
            delimiter=delimiter,
            file_name=safe_file_name(attrs["file"].name or ""),
            file_size=attrs["file"].size,
        )
        return attrs
