"""The replica router's rules, and that without a replica nothing is routed at all.

Where reads really go with a replica is tested against a real primary and streaming replica in
tests/test_read_replica.py.
"""

from django.db import DEFAULT_DB_ALIAS

from crmApp.db_routing import REPLICA, ReplicaRouter, read_alias, reading
from crmApp.models import Customer, Event
from crmApp.selectors.customers import CustomerSelector


def test_the_router_keeps_writes_and_migrations_on_the_primary():
    router = ReplicaRouter()

    assert router.db_for_write(Customer) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "crmApp") is True
    assert router.allow_migrate(REPLICA, "crmApp") is False
    assert router.allow_relation(Customer(), Event()) is True


def test_reads_follow_a_reading_block_and_nothing_else():
    router = ReplicaRouter()

    assert router.db_for_read(Customer) is None
    with reading(REPLICA):
        assert router.db_for_read(Customer) == REPLICA
        with reading(DEFAULT_DB_ALIAS):
            assert router.db_for_read(Customer) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Customer) == REPLICA
    assert router.db_for_read(Customer) is None


def test_without_a_replica_every_read_is_left_to_the_primary(db):
    selector = CustomerSelector()
    visible = selector.visible({1})

    assert read_alias() == DEFAULT_DB_ALIAS
    for action in ("list", "stats", "export_csv", "retrieve", "bulk_update"):
        assert selector.for_action(visible, action)._db is None
