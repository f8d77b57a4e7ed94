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
from rest_framework.fields import empty

from crmApp.models import Organization
from crmApp.models.base import organization_id_of, tenant_filter
from crmApp.permissions import get_access
from crmApp.selectors.base import external_id_taken
from crmApp.selectors.organizations import organization_reference

MAX_TEXT_LENGTH = 10_000
MAX_TAGS = 50
MAX_TAG_LENGTH = 50
MAX_SETTINGS_BYTES = 16_384


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key limited to the caller's organizations.

    The related model's `TENANT_PATH` leads to its organization id; the serializer compares it
    with the record's organization, so a foreign id reads exactly like a missing one.
    """

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None:
            return queryset.none()
        return queryset.filter(**tenant_filter(queryset.model, get_access(request).member_org_ids))


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

    def to_internal_value(self, data):
        """The organization, when it is one of the caller's memberships, without a query: the
        access read with the session proves it (`organization_reference`)."""
        request = self.context.get("request")
        if request is None or isinstance(data, bool):
            return super().to_internal_value(data)
        try:
            pk = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if isinstance(data, float) or pk not in get_access(request).member_org_ids:
            return super().to_internal_value(data)  # the queryset's own answer and message
        return organization_reference(pk)


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


class ContextDependentFields(TypeError):
    """A serializer's fields depend on the request's context, so they cannot be built once."""


class _NoContextYet(dict):
    """The context while fields that are shared between requests are built: any read of it
    raises, because what it would return belongs to one caller only (a field hidden for one
    role would stay hidden, or shown, for the next)."""

    def _refuse(self, *args, **kwargs):
        raise ContextDependentFields(
            "These fields are built once and shared between requests; they must not read the "
            "context (request, user, view). Read it when representing or validating instead."
        )

    __getitem__ = get = __contains__ = __iter__ = __len__ = keys = items = values = _refuse


def _build_without_context(serializer: serializers.Serializer, build):
    """`build()` with `serializer`'s context replaced by one that refuses every read."""
    saved = getattr(serializer, "_context", {})
    serializer._context = _NoContextYet()
    try:
        return build()
    finally:
        serializer._context = saved


#: Per serializer class, the fields its model introspection built (see CachedFieldsModelSerializer).
_FIELD_TEMPLATES: dict[type, dict] = {}


class CachedFieldsModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that introspects its model once per class, not once per instance.

    Why: DRF rebuilds every field from the model's metadata each time a serializer is created
    (field mapping, kwargs, validators); for a deal detail with its nested customer, pipeline and
    stages that was about a fifth of a write request's CPU. The fields depend only on the class,
    so they are built once and each instance gets a deep copy, which is how DRF already copies
    declared fields. The template is built with a context that refuses every read, so a class
    whose fields would depend on the caller fails at once instead of serving the first caller's
    fields to everyone; a subclass that adjusts fields per instance overrides `get_fields` and
    changes its own copy.
    """

    def get_fields(self):
        template = _FIELD_TEMPLATES.get(type(self))
        if template is None:
            build = super().get_fields
            template = _FIELD_TEMPLATES[type(self)] = _build_without_context(self, build)
        return {name: _field_copy(field) for name, field in template.items()}


def _field_copy(field: serializers.Field) -> serializers.Field:
    """A copy of an unbound template field that this instance may bind and adjust.

    DRF deep-copies by calling the field's constructor again with copies of its arguments,
    which was most of a write's serializer set-up. An unbound field's own attributes are only
    replaced, never changed in place, when it is bound (`bind`) or adjusted per request (a
    related field's `queryset`), so a shallow copy is enough; nested serializers, which bind
    fields of their own, and a mutable default value, which a caller could change, are still
    copied deeply.
    """
    default = getattr(field, "default", empty)
    if isinstance(field, serializers.BaseSerializer) or isinstance(default, list | dict | set):
        return copy.deepcopy(field)
    return copy.copy(field)


_representers = threading.local()


def reusable_serializer(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """A serializer of `serializer_class` whose fields were built without any caller's context.

    Raises `ContextDependentFields` when building the fields (nested ones included) reads the
    context, since those fields would then be frozen at whatever the first caller saw.
    """
    serializer = serializer_class(context={})

    def build_all(fields=None):
        fields = serializer.fields if fields is None else fields
        for field in fields.values():
            nested = getattr(field, "child", field)
            if isinstance(nested, serializers.BaseSerializer) and hasattr(nested, "fields"):
                build_all(nested.fields)
        return fields

    _build_without_context(serializer, build_all)
    return serializer


def represent(serializer_class: type[serializers.Serializer], instance, *, context: dict) -> dict:
    """What `serializer_class(instance, context=context).data` gives, at a fraction of the cost.

    Why: creating a serializer builds all its fields and those of its nested serializers, which
    costs several times more than representing a row with them (deal detail 1.5 ms against
    0.25 ms). Representing keeps no state on the serializer but its context, so each thread
    keeps one serializer per class and sets the caller's context for the call. Fields that read
    the context while being represented see this caller's; fields whose construction reads it
    cannot be shared and are refused (`reusable_serializer`).
    For answers only: a form (validation, `instance`, `initial_data`) needs its own serializer.
    """
    serializers_by_class = getattr(_representers, "by_class", None)
    if serializers_by_class is None:
        serializers_by_class = _representers.by_class = {}
    serializer = serializers_by_class.get(serializer_class)
    if serializer is None:
        serializer = serializers_by_class[serializer_class] = reusable_serializer(serializer_class)
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
    """The create/update form of a tenant record: validates, never saves (services do)."""

    organization = OrganizationField()

    def save(self, **kwargs):
        raise TypeError(
            f"{type(self).__name__} validates only; hand validated_data to the resource's service."
        )

    def get_unique_together_validators(self):
        """Drop DRF's (organization, code) check: codes are generated, and that validator would
        make `organization` required even when the header or the only membership supplies it."""
        return [
            validator
            for validator in super().get_unique_together_validators()
            if not {"code", "external_id"} & set(getattr(validator, "fields", ()))
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
            attrs["organization"] = organization_reference(default_id)
        return attrs["organization"].pk

    def validate(self, attrs):
        attrs = super().validate(attrs)
        organization_id = self.resolve_organization_id(attrs)
        self.check_same_organization(attrs, organization_id)
        self.check_external_id(attrs, organization_id)
        #: The organization this form writes into, for the write permission check.
        self.organization_id = organization_id
        return attrs

    def check_external_id(self, attrs, organization_id: int) -> None:
        """External ids are unique per organization; an empty one means none."""
        if "external_id" not in attrs:
            return
        value = attrs["external_id"]
        if value is not None and not value.strip():
            attrs["external_id"] = value = None
        if value is None:
            return
        exclude_pk = self.instance.pk if self.instance is not None else None
        # A caller validating many rows (an import) may look the batch's external ids up at
        # once: `external_ids` maps each of them to the id of the organization's row holding
        # it (or None). Ids it does not cover are looked up here.
        known = self.context.get("external_ids")
        if known is not None and value in known:
            holder = known[value]
            taken = holder is not None and holder != exclude_pk
        else:
            taken = external_id_taken(
                self.Meta.model, organization_id, value, exclude_pk=exclude_pk
            )
        if taken:
            raise serializers.ValidationError(
                {"external_id": ["Another record of this organization has this external id."]}
            )

    def check_same_organization(self, attrs, organization_id: int) -> None:
        errors = {}
        for name, field in self.fields.items():
            if not isinstance(field, ScopedRelatedField) or field.read_only:
                continue
            value = attrs.get(field.source)
            if value is None:
                continue
            if organization_id_of(value) != organization_id:
                errors[name] = [field.error_messages["does_not_exist"].format(pk_value=value.pk)]
        if errors:
            raise serializers.ValidationError(errors)
