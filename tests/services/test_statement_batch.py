"""`statement_batch`: queued writes land exactly as the ORM's own writes would, in one statement
on PostgreSQL and one by one elsewhere; nothing of a failed block is written."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmApp.models import AuditEvent, Deal, DealStageHistory, Event
from crmApp.services.batch import (
    batch_insert,
    batch_update,
    batch_update_fields,
    statement_batch,
)
from tests.factories import DealFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=datetime.UTC)


def rows(org, actor):
    """One row of each kind a write queues, with every kind of value (JSON, datetimes, FKs)."""
    return [
        Event(
            organization=org,
            type="customer.created",
            resource="customer",
            resource_id=7,
            actor=actor,
            request_id="req-1",
            snapshot={"name": 'Ünïcode \' "quoted"', "value": "12.50", "nested": {"a": [1, None]}},
            created_at=AT,
        ),
        AuditEvent(
            organization=org,
            actor=actor,
            request_id="req-1",
            action="created",
            resource="customer",
            record_id=7,
            changes={"name": {"old": None, "new": "x"}},
            created_at=AT,
        ),
    ]


def stored(instance):
    """The row as the database holds it now, without its id."""
    values = type(instance).objects.filter(pk=instance.pk).values().get()
    values.pop("id")
    return values


def test_queued_inserts_store_what_immediate_ones_store_and_get_their_ids(is_postgres):
    org, actor = OrganizationFactory(), UserFactory()
    immediate = [batch_insert(row) for row in rows(org, actor)]
    queued = rows(org, actor)

    with CaptureQueriesContext(connection) as ctx, statement_batch():
        for row in queued:
            batch_insert(row)
        assert all(row.pk is None for row in queued)  # nothing sent yet

    assert len(ctx.captured_queries) == (1 if is_postgres else 2)
    assert all(row.pk is not None and not row._state.adding for row in queued)
    assert [stored(row) for row in queued] == [stored(row) for row in immediate]
    assert Event.objects.get(pk=queued[0].pk).snapshot["nested"] == {"a": [1, None]}


def test_queued_updates_write_what_save_and_update_write(is_postgres):
    deal = DealFactory(value=Decimal("1000.00"), probability=Decimal("20.00"))
    twin = DealFactory(organization=deal.organization, value=Decimal("1000.00"))
    history = DealStageHistory.objects.create(
        organization=deal.organization, deal=deal, stage=deal.stage, entered_at=AT
    )
    for row in (deal, twin):
        row.probability = Decimal("60.00")
        row.title = "Renamed"
        row.refresh_derived()

    with CaptureQueriesContext(connection) as ctx, statement_batch():
        batch_update_fields(deal, ("probability", "title", *Deal.DERIVED_FIELDS))
        batch_update(DealStageHistory.objects.filter(deal=deal, left_at__isnull=True), left_at=AT)
    twin.save(update_fields=["probability", "title"])

    assert len(ctx.captured_queries) == (1 if is_postgres else 2)
    fresh, fresh_twin = Deal.objects.get(pk=deal.pk), Deal.objects.get(pk=twin.pk)
    assert (fresh.probability, fresh.title, fresh.expected_revenue) == (
        Decimal("60.00"),
        "Renamed",
        Decimal("600.00"),
    )
    assert (fresh.probability, fresh.title, fresh.expected_revenue) == (
        fresh_twin.probability,
        fresh_twin.title,
        fresh_twin.expected_revenue,
    )
    assert fresh.updated_at == deal.updated_at > AT  # auto_now ran when it was queued
    history.refresh_from_db()
    assert history.left_at == AT


def test_a_failed_block_writes_nothing_it_queued():
    org, actor = OrganizationFactory(), UserFactory()

    with pytest.raises(RuntimeError), transaction.atomic(), statement_batch():
        for row in rows(org, actor):
            batch_insert(row)
        raise RuntimeError("refused")

    assert (Event.objects.count(), AuditEvent.objects.count()) == (0, 0)


def test_nested_blocks_join_the_outer_one(is_postgres):
    org, actor = OrganizationFactory(), UserFactory()
    event, audit = rows(org, actor)

    with CaptureQueriesContext(connection) as ctx, statement_batch():
        batch_insert(event)
        with statement_batch():
            batch_insert(audit)
        assert audit.pk is None  # sent with the outer block
    assert len(ctx.captured_queries) == (1 if is_postgres else 2)
    assert event.pk is not None and audit.pk is not None


def test_outside_a_block_every_write_is_sent_at_once():
    org, actor = OrganizationFactory(), UserFactory()
    event, _audit = rows(org, actor)

    with CaptureQueriesContext(connection) as ctx:
        batch_insert(event)
    assert len(ctx.captured_queries) == 1 and event.pk is not None
    assert Event.objects.get(pk=event.pk).created_at <= timezone.now()
