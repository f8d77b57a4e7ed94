"""Serializer reuse: fields built once per class, and answers from one serializer per thread.

Both exist for speed (bench/RESULTS.md); these tests pin that neither changes what a serializer
produces nor lets one request's state reach another's.
"""

import threading
from decimal import Decimal

import pytest
from rest_framework import serializers

from crmApp.models import Customer, Deal, Lead
from crmApp.serializers.base import CachedFieldsModelSerializer, represent
from crmApp.serializers.customers import CustomerSerializer
from crmApp.serializers.deals import DealSerializer
from crmApp.serializers.leads import LeadSerializer
from tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
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
