"""The read replica against a real PostgreSQL primary and streaming replica (tests/pg_cluster.py).

The app is a gunicorn instance pointed at both (DATABASE_URL, DATABASE_REPLICA_URL), spoken to
over HTTP by two owners of one organization. Where a read ran is shown by pausing the replica's
replay: a row written since then exists on the primary only.
"""

import json
import time

import pytest

from tests.events_support import free_port
from tests.instances import app_env, gunicorn, manage
from tests.pg_cluster import pg_cluster  # noqa: F401 (the session fixture)
from tests.redis_support import REDIS_SERVER, start_redis, stop_redis

DATABASE = "crm_replica_test"
#: The replica may serve reads up to this far behind (REPLICA_MAX_LAG_SECONDS).
MAX_LAG = 4.0
#: How often the app checks the replica's lag (REPLICA_CHECK_SECONDS): long, so that a replica
#: stopped between two checks is met by a read, which must still not fail.
CHECK = 3.0
#: A client's reads stay on the primary this long after it wrote.
READ_YOUR_WRITES = 30.0

SEED = """
import json
from crmApp.services.auth import session_start
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
org = OrganizationFactory(name="Replicated")
tokens = []
for _ in range(2):
    user = UserFactory()
    MembershipFactory(user=user, organization=org, is_owner=True)
    tokens.append(session_start(user=user, ip_address="127.0.0.1", device_info="test").access)
print(json.dumps({"organization": org.pk, "writer": tokens[0], "reader": tokens[1]}))
"""


@pytest.fixture(scope="module")
def redis_url():
    """A Redis of the module's own when this machine has one, as production would: the read-
    your-writes marks and the reports' cached figures live there."""
    if REDIS_SERVER is None:
        yield ""
        return
    port = free_port()
    server = start_redis(port)
    yield f"redis://127.0.0.1:{port}/0"
    stop_redis(server)


@pytest.fixture(scope="module")
def replicated_app(pg_cluster, tmp_path_factory, redis_url):  # noqa: F811
    with pg_cluster.connect(pg_cluster.primary_port) as primary:
        primary.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        primary.execute(f"CREATE DATABASE {DATABASE}")
    env = app_env(
        DATABASE_URL=pg_cluster.url(pg_cluster.primary_port, DATABASE),
        DATABASE_REPLICA_URL=pg_cluster.url(pg_cluster.replica_port, DATABASE),
        REPLICA_MAX_LAG_SECONDS=str(MAX_LAG),
        REPLICA_CHECK_SECONDS=str(CHECK),
        REPLICA_READ_YOUR_WRITES_SECONDS=str(READ_YOUR_WRITES),
        REDIS_URL=redis_url,
        CELERY_BROKER_URL="",
    )
    manage(env, "migrate", "--noinput")
    seeded = json.loads(manage({**env, "DEBUG": "true"}, "shell", "-c", SEED).splitlines()[-1])
    pg_cluster.wait_for_replay()
    log = tmp_path_factory.mktemp("replica") / "gunicorn.log"
    with gunicorn(env, log) as instance:
        yield instance, seeded


def _customer_names(instance, token: str, organization: int) -> list[str]:
    answer = instance.call("GET", f"/api/customers/?organization={organization}", token=token)
    assert answer.status == 200, answer.body
    return [row["name"] for row in answer.body["results"]]


def _stats_total(instance, token: str, organization: int) -> int:
    answer = instance.call("GET", f"/api/customers/stats/?organization={organization}", token=token)
    assert answer.status == 200, answer.body
    return answer.body["total"]


def _export_lines(instance, token: str, organization: int) -> int:
    path = f"/api/customers/export_csv/?organization={organization}"
    answer = instance.call("GET", path, token=token)
    assert answer.status == 200, answer.body
    return len(answer.body.strip().splitlines())


def _leads_reported(instance, token: str, organization: int) -> int:
    path = f"/api/reports/lead-sources/?organization={organization}"
    answer = instance.call("GET", path, token=token)
    assert answer.status == 200, answer.body
    return answer.body["total"]["leads"]


def _commit_on_primary(pg_cluster) -> None:  # noqa: F811
    """A transaction the replica replays, so its last replay time is now."""
    with pg_cluster.connect(pg_cluster.primary_port, DATABASE) as primary:
        primary.execute("CREATE TABLE IF NOT EXISTS replica_probe (at timestamptz)")
        primary.execute("INSERT INTO replica_probe VALUES (now())")
    pg_cluster.wait_for_replay()


def test_reads_come_from_the_replica_except_a_writers_own_and_a_lagging_replica(
    replicated_app,
    pg_cluster,  # noqa: F811
):
    instance, seeded = replicated_app
    org, writer, reader = seeded["organization"], seeded["writer"], seeded["reader"]
    assert _customer_names(instance, reader, org) == []

    _commit_on_primary(pg_cluster)
    pg_cluster.replica_sql("SELECT pg_wal_replay_pause()")
    try:
        paused_at = time.monotonic()
        created = instance.call(
            "POST",
            "/api/customers/",
            token=writer,
            body={"name": "Fresh Ltd", "organization": org, "email": "fresh@example.com"},
        )
        assert created.status == 201, created.body
        lead = {"name": "Fresh lead", "organization": org, "email": "lead@example.com"}
        assert instance.call("POST", "/api/leads/", token=writer, body=lead).status == 201

        # The writer reads its own write at once (the primary)...
        assert _customer_names(instance, writer, org) == ["Fresh Ltd"]
        assert _leads_reported(instance, writer, org) == 1
        # ...while the other owner's list, stats, export and report come from the paused replica.
        assert _customer_names(instance, reader, org) == []
        assert _stats_total(instance, reader, org) == 0
        assert _export_lines(instance, reader, org) == 1  # the header only
        assert _leads_reported(instance, reader, org) == 0
        # A detail read is never the replica's: the new row is there for everyone.
        detail = instance.call("GET", f"/api/customers/{created.body['id']}/", token=reader)
        assert detail.status == 200, detail.body
        assert time.monotonic() - paused_at < MAX_LAG, "too slow to show the replica served"

        # Once the replica is further behind than allowed, everyone reads the primary.
        time.sleep(max(0.0, paused_at + MAX_LAG + CHECK + 0.5 - time.monotonic()))
        assert _customer_names(instance, reader, org) == ["Fresh Ltd"]
        assert _stats_total(instance, reader, org) == 1
        assert _leads_reported(instance, reader, org) == 1
    finally:
        pg_cluster.replica_sql("SELECT pg_wal_replay_resume()")
    pg_cluster.wait_for_replay()
    assert _customer_names(instance, reader, org) == ["Fresh Ltd"]
    assert "read replica" in instance.log.read_text()
    # Back on the caught-up replica, the report counts the lead: what the paused replica
    # answered was not kept under the organization's version renewed by the write.
    time.sleep(CHECK + 0.5)
    assert _leads_reported(instance, reader, org) == 1


def test_a_stopped_replica_sends_reads_to_the_primary_without_an_error(
    replicated_app,
    pg_cluster,  # noqa: F811
):
    instance, seeded = replicated_app
    org, writer, reader = seeded["organization"], seeded["writer"], seeded["reader"]
    pg_cluster.wait_for_replay()
    time.sleep(CHECK + 0.5)  # the app's next check finds the replica current again
    before = _customer_names(instance, reader, org)  # read on the replica, whose connection stays
    pg_cluster.stop_replica()
    try:
        # Most likely before the next lag check: the read finds the connection gone.
        assert _customer_names(instance, reader, org) == before
        created = instance.call(
            "POST",
            "/api/customers/",
            token=writer,
            body={"name": "After Stop", "organization": org, "email": "stop@example.com"},
        )
        assert created.status == 201, created.body
        for _ in range(3):
            assert _customer_names(instance, reader, org) == [*before, "After Stop"]
            assert _stats_total(instance, reader, org) == len(before) + 1
        assert "read replica unreachable" in instance.log.read_text()
    finally:
        pg_cluster.start_replica()
