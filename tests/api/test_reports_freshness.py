"""Small tenants' reports cached under their organizations' versions, with Redis.

Figures summing fewer rows than the exact-count cap used to be computed on every request.
With a shared cache they are kept under a version token per organization that every audited
write replaces after its commit: a repeated request reads the cache, and the first request after
any write computes them again. These tests run on a Redis of their own.
"""

import datetime as dt
import threading
import time

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from crmApp.models import Deal
from crmApp.selectors.counting import cached_figures, tenant_version
from crmApp.services.audit import audit_record
from tests.conftest import make_member
from tests.events_support import free_port
from tests.factories import DealFactory, PipelineFactory, PipelineStageFactory
from tests.redis_support import REDIS_SERVER, failover_cache, start_redis, stop_redis

# Real commits: versions are renewed after a commit, which a test transaction never reaches.
pytestmark = pytest.mark.django_db(transaction=True)

FORECAST = "/api/reports/forecast/"


@pytest.fixture(scope="module")
def redis_url():
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed here: the shared cache cannot be tested")
    port = free_port()
    server = start_redis(port)
    yield f"redis://127.0.0.1:{port}/0"
    stop_redis(server)


@pytest.fixture
def shared_cache(redis_url):
    with override_settings(CACHES=failover_cache(redis_url)):
        caches["default"].clear()
        yield caches["default"]


@pytest.fixture
def deal(org):
    pipeline = PipelineFactory(organization=org)
    stage = PipelineStageFactory(pipeline=pipeline, order=0, probability=50)
    return DealFactory(
        organization=org,
        pipeline=pipeline,
        stage=stage,
        value=1000,
        expected_close_date=dt.date(2027, 3, 15),
    )


def forecast(member) -> tuple[dict, int]:
    """The forecast's figures, and how many queries read the deals to answer it."""
    with CaptureQueriesContext(connection) as ctx:
        response = member.client.get(FORECAST)
    assert response.status_code == 200, response.content
    return response.json()["total"], sum('"deals"' in q["sql"] for q in ctx.captured_queries)


def test_a_repeated_report_is_read_from_the_cache_until_a_write(shared_cache, owner, deal):
    assert forecast(owner) == ({"deals": 1, "best_case": "1000.00", "weighted": "500.00"}, 1)
    assert forecast(owner) == ({"deals": 1, "best_case": "1000.00", "weighted": "500.00"}, 0)

    changed = owner.client.patch(f"/api/deals/{deal.pk}/", {"value": "3000.00"}, format="json")
    assert changed.status_code == 200, changed.content
    assert forecast(owner) == ({"deals": 1, "best_case": "3000.00", "weighted": "1500.00"}, 1)

    # A stage is no deal, but its probability weighs the forecast: every audited write counts.
    stage = owner.client.patch(
        f"/api/pipeline-stages/{deal.stage_id}/", {"probability": "20.00"}, format="json"
    )
    assert stage.status_code == 200, stage.content
    assert forecast(owner) == ({"deals": 1, "best_case": "3000.00", "weighted": "600.00"}, 1)
    assert forecast(owner)[1] == 0


def test_a_refused_write_keeps_the_cached_figures(shared_cache, owner, viewer, deal):
    forecast(owner)
    version = tenant_version({deal.organization_id})

    denied = viewer.client.patch(f"/api/deals/{deal.pk}/", {"value": "5.00"}, format="json")
    invalid = owner.client.patch(f"/api/deals/{deal.pk}/", {"value": "lots"}, format="json")

    assert (denied.status_code, invalid.status_code) == (403, 400)
    assert tenant_version({deal.organization_id}) == version
    assert forecast(owner) == ({"deals": 1, "best_case": "1000.00", "weighted": "500.00"}, 0)


def test_another_organizations_write_keeps_this_ones_figures(shared_cache, owner, deal, other_org):
    forecast(owner)
    stranger = make_member(other_org, owner=True)
    foreign = DealFactory(organization=other_org, value=10)

    changed = stranger.client.patch(f"/api/deals/{foreign.pk}/", {"value": "20.00"}, format="json")

    assert changed.status_code == 200, changed.content
    assert forecast(owner)[1] == 0


def test_without_redis_small_figures_are_computed_on_every_request(owner, deal):
    """Process-local memory cannot carry versions: another worker's write would not reach it."""
    assert tenant_version({deal.organization_id}) is None
    assert forecast(owner)[1] == 1
    assert forecast(owner)[1] == 1


def test_while_redis_is_unreachable_small_figures_are_computed_on_every_request(owner, deal):
    with override_settings(CACHES=failover_cache(f"redis://127.0.0.1:{free_port()}/0")):
        assert forecast(owner) == ({"deals": 1, "best_case": "1000.00", "weighted": "500.00"}, 1)
        assert forecast(owner)[1] == 1
        assert tenant_version({deal.organization_id}) is None


def _read_at_once(compute, readers: int = 3) -> list:
    """`cached_figures` of one key from `readers` threads started together (each its own Redis
    connection, as separate workers would have); what each got, or the error it raised."""
    results: list = []

    def read():
        try:
            results.append(cached_figures("crm:test:figures", compute, len, versioned_by={1}))
        except RuntimeError as exc:
            results.append(exc)

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_figures_missed_by_several_workers_at_once_are_computed_once(shared_cache):
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.3)
        return {"total": 7}

    assert _read_at_once(compute) == [{"total": 7}] * 3
    assert len(calls) == 1


def test_when_the_computing_worker_fails_the_waiting_ones_compute_at_once(shared_cache):
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.2)
        if len(calls) == 1:
            raise RuntimeError("the first computation fails")
        return {"total": 7}

    started = time.monotonic()
    results = _read_at_once(compute, readers=2)

    assert [str(r) if isinstance(r, RuntimeError) else r for r in results] == [
        "the first computation fails",
        {"total": 7},
    ]
    assert time.monotonic() - started < 2  # not after the waiting limit of 10 s


def test_a_rolled_back_write_renews_no_version(shared_cache, owner, deal):
    forecast(owner)
    version = tenant_version({deal.organization_id})

    with pytest.raises(RuntimeError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(value=9)
        audit_record(deal, "updated", actor=None)  # what a service write does, then it fails
        raise RuntimeError("the write fails after its audit row")
    with transaction.atomic():
        audit_record(deal, "updated", actor=None)
        audit_record(deal, "updated", actor=None)
        assert tenant_version({deal.organization_id}) == version  # not before the commit

    assert tenant_version({deal.organization_id}) != version
