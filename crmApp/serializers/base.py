"""Organization-aware serializers.

`TenantModelSerializer` decides which organization a record belongs to (the body's
`organization` among the caller's memberships, else the `X-Organization-ID` header, else the
caller's only organization; fixed after creation) and checks that every `ScopedRelatedField`
points into that same organization. A foreign id is reported exactly like a missing one.
"""

import copy
import json
import threading

from django.db import models
from rest_framework import serializers

from crmApp.models import Organization
from crmApp.permissions import get_access

MAX_TEXT_LENGTH = 10_000
MAX_TAGS = 50
MAX_TAG_LENGTH = 50
MAX_SETTINGS_BYTES = 16_384


def _attr_path(obj, path: str):
    for part in path.split("__"):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key limited to the caller's organizations.

    `organization_path` leads from the related object to its organization id (for stages:
    `pipeline__organization_id`); the serializer compares it with the record's organization.
    """

    def __init__(self, *, organization_path: str = "organization_id", **kwargs):
        self.organization_path = organization_path
        super().__init__(**kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None:
            return queryset.none()
        lookup = f"{self.organization_path}__in"
        return queryset.filter(**{lookup: get_access(request).member_org_ids})

    def organization_id_of(self, obj) -> int | None:
        return _attr_path(obj, self.organization_path)


class OrganizationField(serializers.PrimaryKeyRelatedField):
    """The tenant key: only organizations where the caller is an active member."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", Organization.objects.all())
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Organization.objects.none()
        return Organization.objects.filter(pk__in=get_access(request).member_org_ids)


class ZipCodeField(serializers.CharField):
    """The address group's postal code: `postal_code` in the models, `zip_code` on the wire."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "postal_code")
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)


class TagsField(serializers.ListField):
    """A bounded list of short strings."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField(max_length=MAX_TAG_LENGTH))
        kwargs.setdefault("max_length", MAX_TAGS)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class SettingsField(serializers.JSONField):
    """A JSON object of bounded size."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        if len(json.dumps(value)) > MAX_SETTINGS_BYTES:
            raise serializers.ValidationError(f"Must be at most {MAX_SETTINGS_BYTES} bytes.")
        return value


#: Per serializer class, the fields its model introspection built (see CachedFieldsModelSerializer).
_FIELD_TEMPLATES: dict[type, dict] = {}


class CachedFieldsModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that introspects its model once per class, not once per instance.

    Why: DRF rebuilds every field from the model's metadata each time a serializer is created
    (field mapping, kwargs, validators); for a deal detail with its nested customer, pipeline and
    stages that was about a fifth of a write request's CPU (bench/RESULTS.md). The fields depend
    only on the class, so they are built once and each instance gets a deep copy, which is how
    DRF already copies declared fields. Anything per request (querysets scoped to the caller)
    is resolved later, at validation time; a subclass that adjusts fields per instance
    overrides `get_fields` and changes its own copy.
    """

    def get_fields(self):
        template = _FIELD_TEMPLATES.get(type(self))
        if template is None:
            template = _FIELD_TEMPLATES[type(self)] = super().get_fields()
        return copy.deepcopy(template)


_representers = threading.local()


def represent(serializer_class: type[serializers.Serializer], instance, *, context: dict) -> dict:
    """What `serializer_class(instance, context=context).data` gives, at a fraction of the cost.

    Why: creating a serializer builds all its fields and those of its nested serializers, which
    costs several times more than representing a row with them (deal detail 1.5 ms against
    0.25 ms, bench/RESULTS.md). Representing keeps no state on the serializer but its context,
    so each thread keeps one serializer per class and sets the caller's context for the call.
    For answers only: a form (validation, `instance`, `initial_data`) needs its own serializer.
    """
    serializers_by_class = getattr(_representers, "by_class", None)
    if serializers_by_class is None:
        serializers_by_class = _representers.by_class = {}
    serializer = serializers_by_class.get(serializer_class)
    if serializer is None:
        serializer = serializers_by_class[serializer_class] = serializer_class(context={})
    serializer._context = context
    try:
        return serializer.to_representation(instance)
    finally:
        serializer._context = {}


class BoundedModelSerializer(CachedFieldsModelSerializer):
    """Every text field gets a length limit; money fields refuse negatives."""

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, models.TextField) and "max_length" not in kwargs:
            kwargs["max_length"] = MAX_TEXT_LENGTH
        if isinstance(model_field, models.DecimalField) and model_field.decimal_places == 2:
            if model_field.max_digits == 12:
                kwargs.setdefault("min_value", 0)
            elif model_field.max_digits == 5:
                kwargs.setdefault("min_value", 0)
                kwargs.setdefault("max_value", 100)
        return field_class, kwargs


class TenantModelSerializer(BoundedModelSerializer):
    organization = OrganizationField()

    def get_unique_together_validators(self):
        """Drop DRF's (organization, code) check: codes are generated, and that validator would
        make `organization` required even when the header or the only membership supplies it."""
        return [
            validator
            for validator in super().get_unique_together_validators()
            if "code" not in getattr(validator, "fields", ())
        ]

    def get_default_organization_id(self) -> int | None:
        view = self.context.get("view")
        return view.default_organization_id() if view is not None else None

    def resolve_organization_id(self, attrs) -> int:
        if self.instance is not None:
            chosen = attrs.get("organization")
            if chosen is not None and chosen.pk != self.instance.organization_id:
                raise serializers.ValidationError(
                    {"organization": ["The organization of a record cannot be changed."]}
                )
            attrs.pop("organization", None)
            return self.instance.organization_id
        organization = attrs.get("organization")
        if organization is None:
            default_id = self.get_default_organization_id()
            if default_id is None:
                raise serializers.ValidationError({"organization": ["This field is required."]})
            attrs["organization"] = Organization.objects.get(pk=default_id)
        return attrs["organization"].pk

    def validate(self, attrs):
        attrs = super().validate(attrs)
        organization_id = self.resolve_organization_id(attrs)
        self.check_same_organization(attrs, organization_id)
        return attrs

    def check_same_organization(self, attrs, organization_id: int) -> None:
        errors = {}
        for name, field in self.fields.items():
            if not isinstance(field, ScopedRelatedField) or field.read_only:
                continue
            value = attrs.get(field.source)
            if value is None:
                continue
            if field.organization_id_of(value) != organization_id:
                errors[name] = [field.error_messages["does_not_exist"].format(pk_value=value.pk)]
        if errors:
            raise serializers.ValidationError(errors)
