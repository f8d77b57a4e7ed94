"""Point reads through SQL compiled once per shape (`crmApp.selectors.compiled`) run the very
statement the ORM compiles for the same queryset, and read the same instances: fields, joined
relations, annotations and embedded rows; on SQLite and PostgreSQL.

Each read is done twice through the cache (a miss that fills it, then hits for other rows and
other organizations) and compared with the plain ORM read of the same queryset.
"""

import pytest
from django.db import connection, transaction
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from crmApp.models import Customer, Deal, Lead
from crmApp.selectors import compiled
from crmApp.selectors.customers import CustomerSelector
from crmApp.selectors.deals import DealSelector
from crmApp.selectors.embedded import ANNOTATION_PREFIX
from crmApp.selectors.leads import LeadSelector
from tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
)

pytestmark = pytest.mark.django_db

#: (selector, action) pairs whose detail shapes are reused; `move_stage` reads under lock.
SHAPES = [
    (DealSelector, "retrieve"),
    (DealSelector, "move_stage"),
    (CustomerSelector, "partial_update"),
    (LeadSelector, "retrieve"),
]


@pytest.fixture(autouse=True)
def empty_cache():
    compiled._cache.clear()
    yield
    compiled._cache.clear()


def rows_of(org) -> dict[type[Model], list[Model]]:
    manager = EmployeeFactory(organization=org)
    owner = EmployeeFactory(organization=org, manager=manager)
    pipeline = PipelineFactory(organization=org)
    stages = [PipelineStageFactory(pipeline=pipeline, order=n) for n in (2, 1)]
    customer = CustomerFactory(organization=org, assigned_to=owner)
    lead = LeadFactory(organization=org, assigned_to=owner)
    return {
        Deal: [
            DealFactory(
                organization=org,
                customer=customer,
                pipeline=pipeline,
                stage=stages[0],
                assigned_to=owner,
            ),
            DealFactory(organization=org, customer=None, pipeline=None, stage=None),
        ],
        Customer: [customer, CustomerFactory(organization=org, assigned_to=None)],
        Lead: [lead, LeadFactory(organization=org, assigned_to=None)],
    }


def described(obj: Model | None, depth: int = 0) -> object:
    """Every field value, annotation, joined relation and prefetched row of `obj`."""
    if obj is None:
        return None
    values = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    extra = {k: v for k, v in obj.__dict__.items() if k not in values and not k.startswith("_")}
    joined = {
        name: described(related, depth + 1)
        for name, related in obj._state.fields_cache.items()
        if depth < 3
    }
    prefetched = {
        name: [described(row, depth + 1) for row in queryset]
        for name, queryset in obj.__dict__.get("_prefetched_objects_cache", {}).items()
    }
    return (type(obj), values, extra, joined, prefetched)


def shaped_queryset(selector_class, action: str, organization_ids, pk: int):
    selector = selector_class()
    return selector.for_action(selector.visible(organization_ids), action).filter(pk=pk)


def plain_and_shaped(selector_class, action, organization_ids, pk):
    """The plain read's statement and row, then the shaped read's (same queryset)."""
    queryset = shaped_queryset(selector_class, action, organization_ids, pk)
    with CaptureQueriesContext(connection) as plain_queries:
        plain = list(queryset)
    with CaptureQueriesContext(connection) as shaped_queries:
        shaped = selector_class().read_one(queryset, action=action)
    return plain_queries, plain, shaped_queries, shaped


@pytest.mark.parametrize(("selector_class", "action"), SHAPES)
def test_shaped_reads_run_the_orm_statement_and_read_the_same_rows(
    org, other_org, selector_class, action
):
    mine, theirs = rows_of(org), rows_of(other_org)
    model = selector_class.model
    reads = (
        [({org.pk}, row.pk, True) for row in mine[model]]
        + [  # another organization's row through the same entry: not found
            ({org.pk}, row.pk, False) for row in theirs[model]
        ]
        + [  # two organizations: a WHERE clause of its own
            ({org.pk, other_org.pk}, row.pk, True) for row in (*mine[model], *theirs[model])
        ]
    )

    with transaction.atomic():
        for organization_ids, pk, found in reads:
            plain_queries, plain, shaped_queries, shaped = plain_and_shaped(
                selector_class, action, organization_ids, pk
            )
            assert [q["sql"] for q in shaped_queries] == [q["sql"] for q in plain_queries]
            assert described(shaped) == described(plain[0] if plain else None)
            assert (shaped is not None) == found

    assert len(compiled._cache) == 2  # one WHERE text per number of organizations


def test_a_deal_read_through_the_cache_carries_its_embedded_stages(org):
    deal = rows_of(org)[Deal][0]
    selector = DealSelector()
    for _ in range(2):  # the miss, then the hit
        queryset = shaped_queryset(DealSelector, "retrieve", {org.pk}, deal.pk)
        read = selector.read_one(queryset, action="retrieve")
        stages = read.pipeline.stages.all()
        with CaptureQueriesContext(connection) as queries:
            orders = [stage.order for stage in stages]
        assert orders == [1, 2] and len(queries) == 0
        assert not any(key.startswith(ANNOTATION_PREFIX) for key in read.__dict__)


@pytest.mark.django_db(transaction=True)
def test_a_locked_read_outside_a_transaction_is_refused_as_the_orm_refuses_it(org):
    if not connection.features.has_select_for_update:
        pytest.skip("SQLite has no row locks: the ORM reads without one")
    deal = rows_of(org)[Deal][0]
    queryset = shaped_queryset(DealSelector, "move_stage", {org.pk}, deal.pk)
    with transaction.atomic():
        DealSelector().read_one(queryset, action="move_stage")  # cached inside one
    assert compiled._cache

    with pytest.raises(transaction.TransactionManagementError):
        DealSelector().read_one(queryset, action="move_stage")


def test_another_outline_under_the_same_shape_is_not_served_from_the_cache(org):
    """A caller whose shape does not pin the query gets its own entry for what differs."""
    deal = rows_of(org)[Deal][0]
    selector = DealSelector()
    queryset = shaped_queryset(DealSelector, "retrieve", {org.pk}, deal.pk)
    selector.read_one(queryset, action="retrieve")
    bare = selector.visible({org.pk}).filter(pk=deal.pk)

    read = selector.read_one(bare, action="retrieve")

    assert described(read) == described(bare.get())
    assert len(compiled._cache) == 2
