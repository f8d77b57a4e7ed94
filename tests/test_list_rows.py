"""The fast list rows (`ListSpec`) against the list serializers they replace.

A list whose selector declares `list_rows` never runs its list serializer, yet the serializer
stays the contract's reference. Each spec is compared with it row for row, key order and JSON
bytes included, over rows chosen to hit every formatting branch (nulls, missing relations,
decimals, dates, datetimes with microseconds, non-ASCII text, both booleans), and under
time zones other than UTC so that datetime formatting cannot drift either.

The fast lists are discovered from the router, so a new one is compared as soon as it is
registered; it then fails until `ROW_BUILDERS` knows how to create varied rows for it.
"""

import datetime
import json
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from crmApp.models import AuditEvent, Organization
from crmApp.pagination import SignedCursorPagination
from crmApp.urls import router
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

UTC = datetime.UTC

FAST_LISTS = {
    basename: (prefix, viewset)
    for prefix, viewset, basename in router.registry
    if getattr(getattr(viewset, "selector", None), "list_rows", None) is not None
}

#: UTC, one zone behind it and one ahead by a non-whole hour: a datetime formatted in the
#: wrong zone shows in the hours, the minutes or the date.
TIME_ZONES = ["UTC", "America/New_York", "Asia/Kolkata"]

#: Creation times stamped on the rows in turn: microseconds of every width, a second before
#: midnight UTC (another date in both other zones) and a daylight-saving change in New York.
CREATED_AT = [
    datetime.datetime(2024, 3, 10, 23, 59, 59, 999999, tzinfo=UTC),
    datetime.datetime(2024, 11, 3, 6, 30, 0, 5, tzinfo=UTC),
    datetime.datetime(2025, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
    datetime.datetime(2023, 6, 15, 12, 0, 0, 123456, tzinfo=UTC),
    datetime.datetime(2024, 2, 29, 18, 45, 7, 500000, tzinfo=UTC),
]


def stamp_created_at(rows: list) -> None:
    """`created_at` is `auto_now_add`, so it is set with an UPDATE after the rows exist."""
    for row, created_at in zip(rows, CREATED_AT * len(rows), strict=False):
        type(row)._default_manager.filter(pk=row.pk).update(created_at=created_at)


def employees(org: Organization) -> tuple:
    return (
        EmployeeFactory(organization=org, first_name="Élodie", last_name="Dubois-Śliwa"),
        EmployeeFactory(organization=org, first_name="José", last_name="Ñúñez 山田"),
    )


def customer_rows(org: Organization) -> None:
    first, second = employees(org)
    rows = [
        CustomerFactory(
            organization=org,
            name="Zoë Ångström",
            phone="+33 1 23 45 67 89",
            customer_type="business",
            status="active",
            assigned_to=first,
        ),
        CustomerFactory(
            organization=org,
            name="北京贸易有限公司",
            phone=None,
            customer_type="individual",
            status="inactive",
            assigned_to=None,
        ),
        CustomerFactory(organization=org, name="Plain", phone="", assigned_to=second),
    ]
    # A row without a code, as rows imported before codes existed are.
    type(rows[2]).objects.filter(pk=rows[2].pk).update(code=None)
    stamp_created_at(rows)


def lead_rows(org: Organization) -> None:
    first, second = employees(org)
    rows = [
        LeadFactory(
            organization=org,
            name="Zoë Ångström",
            company="Ünïcode GmbH",
            job_title="Directrice générale",
            phone="+49 30 1234567",
            source="referral",
            qualification_status="qualified",
            lead_score=100,
            estimated_value=Decimal("1200.5"),
            assigned_to=first,
            is_converted=True,
        ),
        LeadFactory(
            organization=org,
            name="李小龍",
            company=None,
            job_title=None,
            phone=None,
            status="inactive",
            source="cold_call",
            qualification_status="new",
            lead_score=0,
            estimated_value=Decimal("0"),
            assigned_to=None,
            is_converted=False,
        ),
        LeadFactory(
            organization=org,
            name="Plain",
            phone="",
            estimated_value=None,
            lead_score=42,
            assigned_to=second,
        ),
        LeadFactory(organization=org, estimated_value=Decimal("9999999999.99"), lead_score=7),
    ]
    stamp_created_at(rows)


def deal_rows(org: Organization) -> None:
    first, second = employees(org)
    pipeline = PipelineFactory(organization=org)
    stage = PipelineStageFactory(pipeline=pipeline, name="Négociation", order=0)
    other_stage = PipelineStageFactory(pipeline=pipeline, name="Qualified", order=1)
    customer = CustomerFactory(organization=org, name="Zoë Ångström")
    rows = [
        DealFactory(
            organization=org,
            title="Contrat été 2024",
            customer=customer,
            pipeline=pipeline,
            stage=stage,
            value=Decimal("1200.5"),
            currency="EUR",
            probability=Decimal("12.5"),
            expected_close_date=datetime.date(2024, 12, 31),
            assigned_to=first,
            status="active",
            priority="high",
            is_won=True,
        ),
        DealFactory(
            organization=org,
            title="無料トライアル",
            customer=None,
            pipeline=pipeline,
            stage=None,
            value=Decimal("0"),
            probability=Decimal("0"),
            expected_close_date=None,
            assigned_to=None,
            status="closed",
            priority="low",
            is_lost=True,
        ),
        DealFactory(
            organization=org,
            title="Plain",
            pipeline=pipeline,
            stage=other_stage,
            value=None,
            probability=Decimal("100"),
            expected_close_date=datetime.date(2025, 1, 1),
            assigned_to=second,
        ),
    ]
    stamp_created_at(rows)


def audit_rows(org: Organization) -> None:
    named = UserFactory(first_name="Zoë", last_name="Ångström")
    nameless = UserFactory(first_name="", last_name="")  # shown by its username
    common = {"organization": org, "resource": "customer"}
    rows = [
        AuditEvent.objects.create(
            **common,
            actor=named,
            request_id="req-1",
            action="updated",
            record_id=1,
            changes={"name": {"old": "A", "new": "Ünïcode"}, "value": {"old": None, "new": "1.50"}},
        ),
        AuditEvent.objects.create(
            **common, actor=None, action="created", record_id=2, changes={}, request_id=""
        ),
        AuditEvent.objects.create(
            organization=org,
            resource="deal",
            actor=nameless,
            request_id="req-2",
            action="won",
            record_id=3,
            changes={"is_won": {"old": False, "new": True}},
        ),
    ]
    stamp_created_at(rows)


#: How to create varied rows of each fast list, by router basename.
ROW_BUILDERS: dict[str, Callable[[Organization], None]] = {
    "customer": customer_rows,
    "lead": lead_rows,
    "deal": deal_rows,
    "audit-event": audit_rows,
}
#: Keys that are the same on every row of one organization's list by definition.
ONE_ORGANIZATION_KEYS = frozenset({"organization"})


def build_rows(basename: str, org: Organization) -> None:
    builder = ROW_BUILDERS.get(basename)
    if builder is None:
        pytest.fail(f"The fast list {basename!r} has no rows to compare: add it to ROW_BUILDERS.")
    builder(org)


def spec_and_serializer_rows(viewset, org: Organization) -> tuple[list, list]:
    """The same rows, in the same order, through the spec and through the list serializer."""
    selector = viewset.selector
    visible = selector.visible({org.pk}).order_by("id")
    spec = selector.list_rows
    fast = spec.render(spec.rows(selector.for_action(visible, "list")))
    serializer_class = viewset.serializer_classes["list"]
    reference = serializer_class(selector.detail(visible), many=True, context={}).data
    return fast, [dict(row) for row in reference]


def assert_same_rows(fast: list, reference: list) -> None:
    assert [list(row.keys()) for row in fast] == [list(row.keys()) for row in reference]
    assert fast == reference
    # Equality alone lets 1 == True and Decimal("1") == 1 through; types and bytes do not.
    assert [[type(v) for v in row.values()] for row in fast] == [
        [type(v) for v in row.values()] for row in reference
    ]
    assert JSONRenderer().render(fast) == JSONRenderer().render(reference)


def test_fast_lists_are_discovered_from_the_router():
    assert {"customer", "lead", "deal", "audit-event"} <= set(FAST_LISTS)


@pytest.mark.parametrize("time_zone", TIME_ZONES)
@pytest.mark.parametrize("basename", sorted(FAST_LISTS))
def test_list_rows_match_the_list_serializer(settings, org, basename, time_zone):
    settings.USE_TZ = True
    settings.TIME_ZONE = time_zone
    assert timezone.get_current_timezone_name() == time_zone
    _, viewset = FAST_LISTS[basename]
    build_rows(basename, org)

    fast, reference = spec_and_serializer_rows(viewset, org)

    assert len(reference) >= 3
    assert_same_rows(fast, reference)


@pytest.mark.parametrize("basename", sorted(FAST_LISTS))
def test_row_builders_exercise_every_column(org, basename):
    """Each output key takes at least two different values over the built rows, so that a
    formatting branch (null and not null, true and false, zero and not) is never left out
    of the comparison."""
    _, viewset = FAST_LISTS[basename]
    build_rows(basename, org)

    _, reference = spec_and_serializer_rows(viewset, org)

    alike = [
        key
        for key in reference[0]
        if key not in ONE_ORGANIZATION_KEYS
        and len({json.dumps(row[key], sort_keys=True) for row in reference}) < 2
    ]
    assert alike == []


#: Fast lists paged by number (the others page by cursor only: the audit log).
NUMBERED = sorted(
    name
    for name, (_prefix, viewset) in FAST_LISTS.items()
    if not issubclass(viewset.pagination_class, SignedCursorPagination)
)


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kolkata"])
@pytest.mark.parametrize("basename", NUMBERED)
def test_list_endpoint_answers_the_list_serializer_page(settings, owner, org, basename, time_zone):
    settings.USE_TZ = True
    settings.TIME_ZONE = time_zone
    prefix, viewset = FAST_LISTS[basename]
    build_rows(basename, org)
    build_rows(basename, org)  # enough rows for a second page
    selector = viewset.selector
    visible = selector.visible({org.pk}).order_by("id")
    serializer_class = viewset.serializer_classes["list"]
    page = serializer_class(selector.detail(visible)[2:4], many=True, context={}).data

    response = owner.client.get(f"/api/{prefix}/", {"page": 2, "page_size": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == visible.count()
    results = body["results"]
    assert [list(row.keys()) for row in results] == [list(row.keys()) for row in page]
    assert results == json.loads(JSONRenderer().render(page))
    # The page is rendered by the same JSON renderer, so its bytes appear verbatim.
    assert JSONRenderer().render(page) in response.content


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kolkata"])
def test_audit_cursor_pages_answer_the_serializer_rows_newest_first(
    settings, owner, org, time_zone
):
    """The audit list's rows and its cursor (a position read from the rows' `created_at`)
    walk the log exactly as the serializer over model instances would, across equal times."""
    settings.TIME_ZONE = time_zone
    audit_rows(org)
    audit_rows(org)  # the same creation times twice: ties are broken by id
    AuditEvent.objects.filter(organization=org).exclude(actor=None).update(actor=owner.user)
    viewset = FAST_LISTS["audit-event"][1]
    ordered = viewset.selector.detail(AuditEvent.objects.filter(organization=org))
    expected = viewset.serializer_classes["list"](
        ordered.order_by("-created_at", "-id"), many=True, context={}
    ).data
    expected = json.loads(JSONRenderer().render(expected))

    seen, url = [], "/api/audit-events/?page_size=2"
    while url:
        response = owner.client.get(url)
        assert response.status_code == 200, response.content
        seen += response.json()["results"]
        url = response.json()["next"]

    own = [row for row in seen if row["organization"] == org.pk]
    assert len(expected) == 6 and own == expected


#: Datetimes at the edges of `datetime_in`'s fast path: years below 1000 (which `%Y` does not
#: pad), whole seconds (which `isoformat` alone would shorten), another input zone, and naive.
EDGE_DATETIMES = [
    datetime.datetime(1, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
    datetime.datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime.datetime(1000, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
    datetime.datetime(2024, 3, 10, 7, 0, 0, 0, tzinfo=UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    datetime.datetime(
        2024, 6, 1, 12, 0, 0, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))
    ),
    datetime.datetime(2024, 6, 1, 12, 0, 0, 10),
]


@pytest.mark.parametrize("time_zone", TIME_ZONES)
def test_datetime_format_equals_drf_datetime_field(settings, time_zone):
    from rest_framework.fields import DateTimeField

    from crmApp.selectors.rows import serialized_datetime

    settings.TIME_ZONE = time_zone
    field = DateTimeField()
    # Years 1 and 9999 shifted into another zone may leave the calendar: DRF refuses those.
    values = [v for v in EDGE_DATETIMES if time_zone == "UTC" or 1 < v.year < 9999]
    values += [None]
    formatted = serialized_datetime.bind()

    for value in values:
        expected = None if value is None else field.to_representation(value)
        assert formatted(value) == expected, value
        assert serialized_datetime(value) == expected
