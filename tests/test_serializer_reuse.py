"""Serializer reuse: fields built once per class, and answers from one serializer per thread.

Both exist for speed (bench/RESULTS.md); these tests pin that neither changes what a serializer
produces nor lets one request's state reach another's.
"""

import copy
import threading
from decimal import Decimal

import pytest
from django.core import checks
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from crmApp.checks import detail_serializers_are_reusable
from crmApp.models import Customer, Deal, Lead
from crmApp.serializers import base as base_serializers
from crmApp.serializers.base import (
    _FIELD_TEMPLATES,
    CachedFieldsModelSerializer,
    ContextDependentFields,
    represent,
    reusable_serializer,
)
from crmApp.serializers.customers import CustomerSerializer
from crmApp.serializers.deals import DealSerializer
from crmApp.serializers.leads import LeadSerializer
from crmApp.urls import router
from crmApp.viewsets.customers import CustomerViewSet
from tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


class ContextEcho(CachedFieldsModelSerializer):
    """Reads the caller's context while representing, as a hyperlinking field would."""

    caller = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "caller"]

    def get_caller(self, customer: Customer) -> str | None:
        return self.context.get("caller")


@pytest.fixture
def rows(org):
    manager = EmployeeFactory(organization=org)
    employee = EmployeeFactory(organization=org, manager=manager)
    pipeline = PipelineFactory(organization=org)
    stage = PipelineStageFactory(pipeline=pipeline, order=0, probability=40)
    PipelineStageFactory(pipeline=pipeline, order=1, probability=90)
    customer = CustomerFactory(organization=org, assigned_to=employee, credit_limit=Decimal("5"))
    deal = DealFactory(
        organization=org,
        customer=customer,
        pipeline=pipeline,
        stage=stage,
        assigned_to=employee,
        value=Decimal("1200.5"),
    )
    lead = LeadFactory(organization=org, assigned_to=employee, estimated_value=Decimal("7.25"))
    return {
        CustomerSerializer: Customer.objects.get(pk=customer.pk),
        DealSerializer: Deal.objects.get(pk=deal.pk),
        LeadSerializer: Lead.objects.get(pk=lead.pk),
    }


@pytest.mark.parametrize("serializer_class", [CustomerSerializer, DealSerializer, LeadSerializer])
def test_represent_gives_exactly_what_a_new_serializer_gives(rows, serializer_class):
    instance = rows[serializer_class]

    expected = serializer_class(instance, context={}).data

    assert represent(serializer_class, instance, context={}) == expected
    assert represent(serializer_class, instance, context={}) == expected  # reused, same answer


def test_represent_uses_the_callers_context_and_keeps_none_of_it(org):
    customer = CustomerFactory(organization=org)

    first = represent(ContextEcho, customer, context={"caller": "first"})
    second = represent(ContextEcho, customer, context={"caller": "second"})

    assert (first["caller"], second["caller"]) == ("first", "second")
    assert represent(ContextEcho, customer, context={})["caller"] is None


def test_each_thread_represents_with_its_own_serializer(org):
    customer = CustomerFactory(organization=org)
    seen: dict[str, object] = {}

    def answer(name: str) -> None:
        seen[name] = represent(ContextEcho, customer, context={"caller": name})["caller"]

    threads = [threading.Thread(target=answer, args=(f"thread-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seen == {f"thread-{n}": f"thread-{n}" for n in range(4)}


def test_cached_fields_are_copies_per_serializer():
    first, second = LeadSerializer(), LeadSerializer()

    assert first.fields["name"] is not second.fields["name"]
    assert first.fields["name"].parent is first and second.fields["name"].parent is second


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": "A lead", "email": "lead@example.com"},
        {"name": "x" * 300, "email": "not-an-email", "estimated_value": "abc", "tags": 5},
        {"name": "A lead", "status": "nonsense", "score": -4, "source": "?", "phone": None},
    ],
)
def test_shallow_field_copies_validate_exactly_as_deep_copies(org, monkeypatch, payload):
    """The shallow copies of the cached fields give the errors and values DRF's own deep copies
    give, and leave the template unbound."""
    payload = {"organization": org.pk, **payload}

    def outcome():
        form = LeadSerializer(data=payload)
        valid = form.is_valid()
        return valid, dict(form.validated_data) if valid else form.errors

    shallow = outcome()
    monkeypatch.setattr(base_serializers, "_field_copy", copy.deepcopy)
    assert shallow == outcome()
    assert all(field.parent is None for field in _FIELD_TEMPLATES[LeadSerializer].values())


def test_per_instance_field_changes_do_not_leak_between_serializers(rows):
    """LeadSerializer makes `status` read-only on create only; the cached template must not
    remember either instance's choice."""
    lead = rows[LeadSerializer]

    assert LeadSerializer().fields["status"].read_only is True
    assert LeadSerializer(lead).fields["status"].read_only is False
    assert LeadSerializer().fields["status"].read_only is True
    assert DealSerializer().fields["stage_id"].required is True
    assert DealSerializer(rows[DealSerializer]).fields["stage_id"].required is False
    assert DealSerializer().fields["stage_id"].required is True


# --- serializers whose fields depend on the caller cannot be shared -------------------------

#: Every detail serializer the API answers with, by router basename.
DETAIL_SERIALIZERS = {
    basename: viewset.serializer_classes["default"]
    for _prefix, viewset, basename in router.registry
    if getattr(viewset, "serializer_classes", None)
}


class HidesEmailFromOthers(serializers.ModelSerializer):
    """Hides a field per caller while building its fields: shared, the first caller's choice
    would be served to everyone."""

    class Meta:
        model = Customer
        fields = ["id", "name", "email"]

    def get_fields(self):
        fields = super().get_fields()
        if not self.context["request"].user.is_staff:
            fields.pop("email")
        return fields


class NestsHidesEmailFromOthers(serializers.ModelSerializer):
    customers = HidesEmailFromOthers(many=True, read_only=True)

    class Meta:
        model = Deal
        fields = ["id", "customers"]


class ReadsContextInBuildField(CachedFieldsModelSerializer):
    """Reads the context while the once-per-class template is built."""

    class Meta:
        model = Customer
        fields = ["id", "name"]

    def build_field(self, field_name, info, model_class, nested_depth):
        field_class, kwargs = super().build_field(field_name, info, model_class, nested_depth)
        if self.context.get("request") is None:
            kwargs["read_only"] = True
        return field_class, kwargs


class GreetsTheCaller(CachedFieldsModelSerializer):
    """Reads the request only while representing, which sharing allows."""

    greeting = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "greeting"]

    def get_greeting(self, customer: Customer) -> str:
        return f"{self.context['request'].user.username} sees {customer.name}"


def request_by(user):
    request = APIRequestFactory().get("/")
    request.user = user
    return request


def test_represent_refuses_fields_chosen_by_the_requests_user(org):
    customer = CustomerFactory(organization=org)
    context = {"request": request_by(UserFactory(is_staff=True))}

    with pytest.raises(ContextDependentFields):
        represent(HidesEmailFromOthers, customer, context=context)
    # Refused again, not cached half-built by the first attempt.
    with pytest.raises(ContextDependentFields):
        represent(HidesEmailFromOthers, customer, context=context)


def test_reusable_serializer_refuses_a_context_dependent_nested_serializer():
    with pytest.raises(ContextDependentFields):
        reusable_serializer(NestsHidesEmailFromOthers)


def test_cached_fields_refuse_a_build_that_reads_the_context(org):
    context = {"request": request_by(UserFactory())}

    # Refused even when the caller passes a context: the template is built without one.
    with pytest.raises(ContextDependentFields):
        _ = ReadsContextInBuildField(context=context).fields
    assert ReadsContextInBuildField not in _FIELD_TEMPLATES
    with pytest.raises(ContextDependentFields):
        represent(ReadsContextInBuildField, CustomerFactory(organization=org), context=context)


def test_method_field_reads_each_callers_request_when_representing(org):
    customer = CustomerFactory(organization=org, name="Zoë")
    alice = request_by(UserFactory(username="alice"))
    bob = request_by(UserFactory(username="bob"))

    shared = [represent(GreetsTheCaller, customer, context={"request": r}) for r in (alice, bob)]
    fresh = [GreetsTheCaller(customer, context={"request": r}).data for r in (alice, bob)]

    assert [row["greeting"] for row in shared] == ["alice sees Zoë", "bob sees Zoë"]
    assert shared == fresh


def test_detail_serializers_are_discovered_from_the_router():
    assert {
        "customer": CustomerSerializer,
        "lead": LeadSerializer,
        "deal": DealSerializer,
    }.items() <= DETAIL_SERIALIZERS.items()


@pytest.mark.parametrize("basename", sorted(DETAIL_SERIALIZERS))
def test_every_detail_serializer_is_reusable(basename):
    serializer_class = DETAIL_SERIALIZERS[basename]

    serializer = reusable_serializer(serializer_class)

    assert type(serializer) is serializer_class
    assert serializer.fields  # built, nested ones included, without any caller's context


# --- the system check -------------------------------------------------------------------


def test_reuse_check_finds_no_context_dependent_detail_today():
    assert detail_serializers_are_reusable() == []
    assert [m for m in checks.run_checks() if m.id == "crmApp.E001"] == []


def test_reuse_check_names_a_context_dependent_detail_serializer(monkeypatch):
    monkeypatch.setattr(
        CustomerViewSet,
        "serializer_classes",
        {**CustomerViewSet.serializer_classes, "default": HidesEmailFromOthers},
    )

    errors = [m for m in checks.run_checks() if m.id == "crmApp.E001"]

    assert len(errors) == 1
    assert isinstance(errors[0], checks.Error)
    assert errors[0].obj is HidesEmailFromOthers
    assert errors[0].msg.startswith(
        "tests.test_serializer_reuse.HidesEmailFromOthers (the detail of customer) reads the "
        "context while building its fields"
    )
