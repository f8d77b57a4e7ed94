"""Per-organization codes from the counter row (crmApp.models.base.next_codes)."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext

from crmApp.models import CodeSequence, Customer, next_codes
from tests.concurrency import run_concurrently
from tests.factories import CustomerFactory, OrganizationFactory


@pytest.mark.django_db
def test_next_codes_creates_the_counter_then_continues_it():
    organization = OrganizationFactory(rbac=False)

    first = next_codes(organization_id=organization.pk, prefix="CUS")
    block = next_codes(organization_id=organization.pk, prefix="CUS", count=3)

    assert first == ["CUS-000001"]
    assert block == ["CUS-000002", "CUS-000003", "CUS-000004"]
    row = CodeSequence.objects.get(organization=organization, prefix="CUS")
    assert row.last_value == 4


@pytest.mark.django_db
def test_next_codes_counts_per_organization_and_prefix():
    organization, other = OrganizationFactory(rbac=False), OrganizationFactory(rbac=False)
    next_codes(organization_id=organization.pk, prefix="CUS", count=5)

    assert next_codes(organization_id=other.pk, prefix="CUS") == ["CUS-000001"]
    assert next_codes(organization_id=organization.pk, prefix="LEAD") == ["LEAD-000001"]
    assert next_codes(organization_id=organization.pk, prefix="CUS") == ["CUS-000006"]


@pytest.mark.django_db
def test_next_codes_rolled_back_with_the_callers_transaction():
    organization = OrganizationFactory(rbac=False)
    next_codes(organization_id=organization.pk, prefix="CUS")

    with pytest.raises(RuntimeError), transaction.atomic():
        next_codes(organization_id=organization.pk, prefix="CUS")
        raise RuntimeError("abort")

    assert next_codes(organization_id=organization.pk, prefix="CUS") == ["CUS-000002"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_get_distinct_sequential_codes():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    organization = OrganizationFactory(rbac=False)

    results = run_concurrently(
        [lambda n=n: CustomerFactory(organization=organization, name=f"C{n}") for n in range(8)]
    )

    assert [type(result) for result in results] == [Customer] * 8
    rows = Customer.objects.filter(organization=organization)
    codes = sorted(rows.values_list("code", flat=True))
    assert codes == [f"CUS-{n:06d}" for n in range(1, 9)]
    assert CodeSequence.objects.get(organization=organization, prefix="CUS").last_value == 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_use_creates_one_counter_row():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    organization = OrganizationFactory(rbac=False)

    results = run_concurrently(
        [lambda: next_codes(organization_id=organization.pk, prefix="LEAD", count=2)] * 8
    )

    assert sorted(code for block in results for code in block) == [
        f"LEAD-{n:06d}" for n in range(1, 17)
    ]
    assert CodeSequence.objects.filter(organization=organization, prefix="LEAD").count() == 1


@pytest.mark.django_db
def test_a_create_reads_its_code_inside_its_insert_on_postgresql(is_postgres):
    """One statement per create on PostgreSQL (the counter's upsert rides in the INSERT); the
    row holds what the ORM path stores, and the sequence continues across both paths."""
    organization = OrganizationFactory(rbac=False)
    first = CustomerFactory(organization=organization, name="First")

    with CaptureQueriesContext(connection) as ctx:
        created = Customer.objects.create(organization=organization, name="Second", email="b@x.io")
    coded = Customer(organization=organization, name="Third", code="")
    coded.code = next_codes(organization_id=organization.pk, prefix="CUS")[0]  # the other path
    coded.save()

    assert len(ctx.captured_queries) == (1 if is_postgres else 6)
    assert (first.code, created.code, coded.code) == ("CUS-000001", "CUS-000002", "CUS-000003")
    assert created.pk is not None and not created._state.adding
    stored = Customer.objects.get(pk=created.pk)
    assert (stored.code, stored.name, stored.email, stored.created_at) == (
        "CUS-000002",
        "Second",
        "b@x.io",
        created.created_at,
    )


@pytest.mark.django_db
def test_codes_past_six_digits_read_the_same_on_every_path():
    organization = OrganizationFactory(rbac=False)
    CodeSequence.objects.create(organization=organization, prefix="CUS", last_value=999_998)

    created = CustomerFactory(organization=organization)
    after = CustomerFactory(organization=organization)

    assert (created.code, after.code) == ("CUS-999999", "CUS-1000000")
    assert next_codes(organization_id=organization.pk, prefix="CUS") == ["CUS-1000001"]


@pytest.mark.django_db
def test_a_failed_create_leaves_the_counter_as_it_was():
    organization = OrganizationFactory(rbac=False)
    CustomerFactory(organization=organization)
    broken = Customer(organization=organization, name=None)  # NOT NULL: refused at the INSERT

    with pytest.raises(IntegrityError), transaction.atomic():
        broken.save()

    assert broken.pk is None
    assert CustomerFactory(organization=organization).code == "CUS-000002"


@pytest.mark.django_db
def test_a_create_sends_the_save_signals_whatever_the_path():
    organization = OrganizationFactory(rbac=False)
    seen = []

    def before(sender, instance, **kwargs):
        seen.append(("pre", instance.pk, kwargs["raw"]))

    def after(sender, instance, created, **kwargs):
        seen.append(("post", instance.code, created))

    pre_save.connect(before, sender=Customer)
    post_save.connect(after, sender=Customer)
    try:
        created = Customer.objects.create(organization=organization, name="Signalled")
    finally:
        pre_save.disconnect(before, sender=Customer)
        post_save.disconnect(after, sender=Customer)

    assert seen == [("pre", None, False), ("post", created.code, True)]
    assert created.code == "CUS-000001"
