"""Lead services: conversion (once, atomically, under concurrency), qualification, stats."""

import pytest
from django.db import connection

from crmApp.errors import InvalidInput
from crmApp.models import Customer, Lead
from crmApp.selectors.leads import lead_stats
from crmApp.services.leads import (
    ALREADY_CONVERTED,
    lead_convert,
    lead_disqualify,
    lead_qualify,
)
from tests.concurrency import run_concurrently
from tests.factories import EmployeeFactory, LeadFactory, UserFactory

THREADS = 8


@pytest.mark.django_db
def test_lead_convert_sets_both_sides_in_one_moment(org):
    actor = UserFactory()
    first_record = EmployeeFactory(organization=org, user=actor)
    EmployeeFactory(organization=org, user=actor)
    assignee = EmployeeFactory(organization=org)
    lead = LeadFactory(organization=org, name="Jane", company="Acme", source="partner")

    customer = lead_convert(
        lead=lead, actor=actor, customer_type="individual", assigned_to=assignee
    )

    lead.refresh_from_db()
    customer.refresh_from_db()
    assert (lead.is_converted, lead.qualification_status) == (True, "converted")
    assert lead.converted_by_id == first_record.pk
    assert lead.converted_at is not None
    assert customer.converted_at == lead.converted_at
    assert (customer.name, customer.company_name, customer.source) == ("Jane", "Acme", "partner")
    assert (customer.customer_type, customer.status) == ("individual", "active")
    assert (customer.assigned_to_id, customer.converted_from_lead_id) == (assignee.pk, lead.pk)
    assert customer.code == "CUS-000001"


@pytest.mark.django_db
def test_lead_convert_ignores_employee_records_in_other_organizations(org, other_org):
    actor = UserFactory()
    EmployeeFactory(organization=other_org, user=actor)
    lead = LeadFactory(organization=org)

    lead_convert(lead=lead, actor=actor)

    lead.refresh_from_db()
    assert lead.converted_by_id is None


@pytest.mark.django_db
def test_lead_convert_twice_raises_and_creates_one_customer(org):
    lead = LeadFactory(organization=org)
    lead_convert(lead=lead, actor=UserFactory())

    with pytest.raises(InvalidInput) as error:
        lead_convert(lead=lead, actor=UserFactory())

    assert error.value.details == {"non_field_errors": [ALREADY_CONVERTED]}
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_lead_convert_checks_the_stored_row_not_the_stale_instance(org):
    stale = LeadFactory(organization=org)
    Lead.objects.filter(pk=stale.pk).update(is_converted=True)

    with pytest.raises(InvalidInput):
        lead_convert(lead=stale, actor=UserFactory())

    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_qualify_and_disqualify(org):
    lead = LeadFactory(organization=org)

    assert lead_qualify(lead=lead).qualification_status == "qualified"
    assert lead_disqualify(lead=lead).qualification_status == "unqualified"
    lead.refresh_from_db()
    assert lead.qualification_status == "unqualified"


@pytest.mark.django_db
@pytest.mark.parametrize("service", [lead_qualify, lead_disqualify])
def test_qualification_refused_on_converted_lead(org, service):
    lead = LeadFactory(organization=org, is_converted=True, qualification_status="converted")

    with pytest.raises(InvalidInput):
        service(lead=lead)

    lead.refresh_from_db()
    assert lead.qualification_status == "converted"


@pytest.mark.django_db
def test_lead_stats_counts_only_the_given_queryset(org, other_org):
    LeadFactory(organization=org, source="event", qualification_status="unqualified")
    LeadFactory(organization=other_org, source="website")

    stats = lead_stats(Lead.objects.filter(organization=org))

    assert stats == {
        "total": 1,
        "active": 1,
        "converted": 0,
        "unconverted": 1,
        "by_qualification": {
            "new": 0,
            "contacted": 0,
            "qualified": 0,
            "unqualified": 1,
            "converted": 0,
            "lost": 0,
        },
        "by_source": {"event": 1},
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_conversions_create_exactly_one_customer(org):
    if connection.vendor != "postgresql":
        pytest.skip("real row locks need PostgreSQL")
    lead_id = LeadFactory(organization=org).pk
    actor = UserFactory()

    def convert():
        lead = Lead.objects.get(pk=lead_id)
        try:
            return ("converted", lead_convert(lead=lead, actor=actor).pk)
        except InvalidInput as exc:
            return ("refused", exc.details)

    outcomes = run_concurrently([convert] * THREADS)

    converted = [value for kind, value in outcomes if kind == "converted"]
    refused = [value for kind, value in outcomes if kind == "refused"]
    assert len(outcomes) == THREADS
    assert len(converted) == 1
    assert refused == [{"non_field_errors": [ALREADY_CONVERTED]}] * (THREADS - 1)
    assert list(Customer.objects.values_list("pk", "converted_from_lead_id")) == [
        (converted[0], lead_id)
    ]
    lead = Lead.objects.get(pk=lead_id)
    assert (lead.is_converted, lead.qualification_status) == (True, "converted")
