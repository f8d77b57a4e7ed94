"""Serializers that only describe answers and bodies in the OpenAPI schema.

The views build these answers as plain dicts (`{"message": ..., "<resource>": detail}`, stats,
bulk results); the classes here give generated clients and the schema fuzzer their exact shape.
They validate nothing at run time.
"""

import copy
from functools import cache

from django.conf import settings
from rest_framework import serializers

from crmApp.serializers.customers import CustomerSerializer
from crmApp.serializers.deals import DealSerializer
from crmApp.serializers.employees import EmployeeSerializer
from crmApp.serializers.leads import LeadSerializer
from crmApp.serializers.pipelines import PipelineSerializer, PipelineStageSerializer
from crmApp.serializers.users import UserSerializer

MAX_ID = 2**63 - 1


def _count() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0)


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Access JWT: `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(help_text="Refresh JWT for `POST /api/auth/refresh/`.")


class LoginResponseSerializer(serializers.Serializer):
    user = UserSerializer()
    tokens = TokenPairSerializer()


class PasswordChangedSerializer(MessageSerializer):
    tokens = TokenPairSerializer(help_text="A fresh pair; every earlier session is revoked.")


# --- `{"message": ..., "<resource>": <detail>}` answers of the record actions -----------------


class CustomerMessageSerializer(MessageSerializer):
    customer = CustomerSerializer()


class LeadMessageSerializer(MessageSerializer):
    lead = LeadSerializer()


class LeadConvertedSerializer(MessageSerializer):
    customer_id = serializers.IntegerField(help_text="The customer created from the lead.")
    lead = LeadSerializer()


class EmployeeMessageSerializer(MessageSerializer):
    employee = EmployeeSerializer()
    access_suspended = serializers.BooleanField(
        help_text="Whether a membership was deactivated by this call (`suspend_access`)."
    )


class PipelineMessageSerializer(MessageSerializer):
    pipeline = PipelineSerializer()


class StageMessageSerializer(MessageSerializer):
    stage = PipelineStageSerializer()


class DealMessageSerializer(MessageSerializer):
    deal = DealSerializer()


# --- action bodies ---------------------------------------------------------------------------


class PermissionIdSerializer(serializers.Serializer):
    permission_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class StageIdSerializer(serializers.Serializer):
    stage_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="A stage of the deal's pipeline."
    )


class StageOrderSerializer(serializers.Serializer):
    order = serializers.IntegerField(help_text="The new 0-based position within the pipeline.")


# --- stats -----------------------------------------------------------------------------------


class CustomerTypeCountsSerializer(serializers.Serializer):
    individual = _count()
    business = _count()


class CustomerStatsSerializer(serializers.Serializer):
    total = _count()
    active = _count()
    inactive = _count()
    by_type = CustomerTypeCountsSerializer()


class LeadQualificationCountsSerializer(serializers.Serializer):
    new = _count()
    contacted = _count()
    qualified = _count()
    unqualified = _count()
    converted = _count()
    lost = _count()


class LeadStatsSerializer(serializers.Serializer):
    total = _count()
    active = _count()
    converted = _count()
    unconverted = _count()
    by_qualification = LeadQualificationCountsSerializer()
    by_source = serializers.DictField(
        child=_count(), help_text="Source -> count, only for sources present."
    )


class StageFiguresSerializer(serializers.Serializer):
    count = _count()
    value = serializers.FloatField()


class DealPriorityCountsSerializer(serializers.Serializer):
    low = _count()
    medium = _count()
    high = _count()
    urgent = _count()


class DealStatsSerializer(serializers.Serializer):
    total_deals = _count()
    total_value = serializers.FloatField()
    expected_revenue = serializers.FloatField()
    won = _count()
    lost = _count()
    open = _count()
    by_stage = serializers.DictField(
        child=StageFiguresSerializer(),
        help_text='Stage name (or "Name (Pipeline)" when shared) -> figures.',
    )
    by_priority = DealPriorityCountsSerializer()


# --- bulk ------------------------------------------------------------------------------------


def _bulk_ids() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=settings.BULK_MAX_ITEMS,
        help_text="Ids of rows you can see and change; all of them are updated, or none.",
    )


class BulkDeleteSerializer(serializers.Serializer):
    ids = _bulk_ids()


class BulkResultSerializer(MessageSerializer):
    count = _count()


@cache
def bulk_update_serializer(view_class: type) -> type[serializers.Serializer]:
    """`{"ids": [...], "data": {...}}` where `data` holds only the view's `bulk_update_fields`.

    The fields are copies of the resource's detail serializer fields, all optional (each row is
    updated partially). Cached per view so every schema generation sees the same classes.
    """
    detail_class = view_class.serializer_classes["default"]
    model_name = detail_class.Meta.model.__name__
    detail_fields = detail_class().fields
    data_fields = {}
    for name in view_class.bulk_update_fields:
        field = copy.deepcopy(detail_fields[name])
        field.required = False
        data_fields[name] = field
    data_class = type(
        f"{model_name}BulkUpdateDataSerializer", (serializers.Serializer,), data_fields
    )
    return type(
        f"{model_name}BulkUpdateSerializer",
        (serializers.Serializer,),
        {"ids": _bulk_ids(), "data": data_class(help_text="Field -> new value for every row.")},
    )
