"""The bodies of custom actions (move_stage, reorder, bulk writes, ...), parsed by serializers.

An action body that is not a JSON object is read as an empty one, so a client that sends a list
or a string gets the same answer as one that forgot the field. A missing required value answers
`{"error": "<name> is required"}` (a `MissingInput`), a malformed one the usual field error.
"""

from collections.abc import Mapping

from django.conf import settings
from rest_framework import serializers

from crmApp.errors import MissingInput, RecordInvalid
from crmApp.models import Customer, Employee
from crmApp.serializers.base import MAX_TEXT_LENGTH, ScopedRelatedField

MAX_ID = 2**63 - 1
INVALID_INTEGER = "A valid integer is required."


class ActionBodySerializer(serializers.Serializer):
    """Reads a non-object body as `{}`; `required_values` must be present and not null/blank."""

    required_values: tuple[str, ...] = ()
    #: Whether a body that is not an object reads as `{}` (else it is a 400 like any form's).
    empty_unless_object = True

    def to_internal_value(self, data):
        if self.empty_unless_object and not isinstance(data, Mapping):
            data = {}
        return super().to_internal_value(data)

    def validate(self, attrs):
        for name in self.required_values:
            if attrs.get(name) is None:
                raise MissingInput(name)
        return attrs


class IdField(serializers.IntegerField):
    """A positive 64-bit id; a blank value counts as absent."""

    default_error_messages = {
        "invalid": INVALID_INTEGER,
        "min_value": INVALID_INTEGER,
        "max_value": INVALID_INTEGER,
        "max_string_length": INVALID_INTEGER,
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data == "":
            return True, None
        return super().validate_empty_values(data)


class StageMoveSerializer(ActionBodySerializer):
    required_values = ("stage_id",)
    stage_id = IdField(help_text="A stage of the deal's pipeline.")


class StageReorderSerializer(ActionBodySerializer):
    required_values = ("order",)
    order = serializers.IntegerField(
        required=False, allow_null=True, help_text="The new 0-based position within the pipeline."
    )

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and data.get("order") == "":
            data = {key: value for key, value in data.items() if key != "order"}
        return super().to_internal_value(data)


class StageDeleteSerializer(serializers.Serializer):
    """Where the deals of a stage being deleted go (query parameter or body)."""

    move_to = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="A stage of the same pipeline that receives the deleted stage's deals.",
    )


class PermissionIdBodySerializer(ActionBodySerializer):
    required_values = ("permission_id",)
    permission_id = IdField()


class DealMarkLostSerializer(ActionBodySerializer):
    lost_reason = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=MAX_TEXT_LENGTH
    )


class TerminateSerializer(ActionBodySerializer):
    empty_unless_object = False
    termination_date = serializers.DateField(required=False, allow_null=True)
    suspend_access = serializers.BooleanField(
        required=False,
        default=False,
        help_text=(
            "Also deactivate the linked user's membership of the employee's organization, in the "
            "same transaction (needs organizations:manage; the last owner cannot be suspended)."
        ),
    )

    def is_valid(self, *, raise_exception=False):
        """Refusals read as model-level validation (`"Validation Error"`), like the service's."""
        valid = super().is_valid()
        if not valid and raise_exception:
            raise RecordInvalid({key: list(value) for key, value in self.errors.items()})
        return valid


class LeadConvertSerializer(ActionBodySerializer):
    customer_type = serializers.ChoiceField(
        choices=Customer.CustomerType.choices, default=Customer.CustomerType.BUSINESS
    )
    assigned_to_id = ScopedRelatedField(
        source="assigned_to", queryset=Employee.objects.all(), required=False, allow_null=True
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        employee = attrs.get("assigned_to")
        lead = self.context["lead"]
        if employee is not None and employee.organization_id != lead.organization_id:
            field = self.fields["assigned_to_id"]
            message = field.error_messages["does_not_exist"].format(pk_value=employee.pk)
            raise serializers.ValidationError({"assigned_to_id": [message]})
        return attrs


class BulkIdsField(serializers.Field):
    """The ids of a bulk action: a non-empty list of distinct positive ids, capped in size."""

    def to_internal_value(self, data):
        if not isinstance(data, list) or not data:
            raise serializers.ValidationError("No IDs provided")
        if len(data) > settings.BULK_MAX_ITEMS:
            raise serializers.ValidationError(f"At most {settings.BULK_MAX_ITEMS} ids per request.")
        id_field = IdField(required=True, allow_null=False)
        ids = []
        for value in data:
            if isinstance(value, bool):
                raise serializers.ValidationError(INVALID_INTEGER)
            ids.append(id_field.run_validation(value))
        return list(dict.fromkeys(ids))


class BulkDeleteBodySerializer(ActionBodySerializer):
    ids = BulkIdsField(required=False)

    def validate(self, attrs):
        if "ids" not in attrs:
            raise serializers.ValidationError({"ids": ["No IDs provided"]})
        return attrs


class BulkUpdateBodySerializer(ActionBodySerializer):
    """`{"ids": [...], "data": {field: value}}`; `allowed` (context) lists the fields."""

    ids = serializers.JSONField(required=False)
    data = serializers.JSONField(required=False)

    def validate(self, attrs):
        if not attrs.get("ids") or not attrs.get("data"):
            raise serializers.ValidationError({"non_field_errors": ["IDs and data are required"]})
        data = attrs["data"]
        if not isinstance(data, dict):
            raise serializers.ValidationError({"data": ["Must be an object of field: value."]})
        outside = sorted(set(data) - set(self.context["allowed"]))
        if outside:
            raise serializers.ValidationError(
                {"data": [f"Field not updatable in bulk: {name}." for name in outside]}
            )
        try:
            attrs["ids"] = BulkIdsField().run_validation(attrs["ids"])
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"ids": exc.detail}) from None
        return attrs
