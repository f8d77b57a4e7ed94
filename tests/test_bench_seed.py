"""The benchmark seeding command: bulk rows that look like API-created ones."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from crmApp.management.commands.bench_seed import (
    BENCH_EMAIL,
    BENCH_PASSWORD,
    BIG_ORGANIZATION,
    LAST_NAMES,
)
from crmApp.models import (
    CodeSequence,
    Customer,
    Deal,
    Lead,
    Organization,
    PipelineStage,
    User,
    UserOrganization,
)
from crmApp.models.deals import compute_expected_revenue

pytestmark = pytest.mark.django_db


def seed(tmp_path, **options) -> tuple[dict, str]:
    info_file = tmp_path / "seed.json"
    out = StringIO()
    defaults = {
        "customers": 30,
        "leads": 12,
        "deals": 10,
        "employees": 4,
        "small_organizations": 2,
        "small_rows": 3,
        "info_file": str(info_file),
        "stdout": out,
    }
    call_command("bench_seed", **{**defaults, **options})
    return json.loads(info_file.read_text()), out.getvalue()


def test_bench_seed_fills_the_big_organization_with_the_requested_rows(tmp_path):
    info, _ = seed(tmp_path)

    big = Organization.objects.get(pk=info["organization"])
    assert big.name == BIG_ORGANIZATION
    assert Customer.objects.filter(organization=big).count() == 30
    assert Lead.objects.filter(organization=big).count() == 12
    assert Deal.objects.filter(organization=big).count() == 10


def test_bench_seed_adds_the_small_organizations(tmp_path):
    info, _ = seed(tmp_path)

    small = Organization.objects.exclude(pk=info["organization"])
    assert sorted(small.values_list("name", flat=True)) == ["Bench Small 1", "Bench Small 2"]
    for organization in small:
        assert Customer.objects.filter(organization=organization).count() == 3
        assert Lead.objects.filter(organization=organization).count() == 3
        assert Deal.objects.filter(organization=organization).count() == 3


def test_bench_seed_prints_a_login_for_the_owner_of_the_big_organization(tmp_path):
    info, out = seed(tmp_path)

    user = User.objects.get(email=BENCH_EMAIL)
    assert user.check_password(BENCH_PASSWORD)
    assert UserOrganization.objects.get(user=user, organization_id=info["organization"]).is_owner
    assert f"email={BENCH_EMAIL} password={BENCH_PASSWORD}" in out
    assert (info["email"], info["password"]) == (BENCH_EMAIL, BENCH_PASSWORD)


def test_bench_seed_codes_are_sequential_and_the_counter_continues_after_them(tmp_path):
    info, _ = seed(tmp_path)
    org_id = info["organization"]

    codes = list(
        Customer.objects.filter(organization_id=org_id)
        .order_by("id")
        .values_list("code", flat=True)
    )
    assert codes == [f"CUS-{n:06d}" for n in range(1, 31)]
    sequence = CodeSequence.objects.get(organization_id=org_id, prefix="CUS")
    assert sequence.last_value == 30
    created = Customer.objects.create(organization_id=org_id, name="New", email="n@example.com")
    assert created.code == "CUS-000031"


def test_bench_seed_deals_point_into_their_own_organization(tmp_path):
    info, _ = seed(tmp_path)

    for deal in Deal.objects.select_related("customer", "stage", "pipeline"):
        assert deal.customer.organization_id == deal.organization_id
        assert deal.pipeline.organization_id == deal.organization_id
        assert deal.stage.pipeline_id == deal.pipeline_id
        assert deal.probability == deal.stage.probability
        assert deal.expected_revenue == compute_expected_revenue(deal.value, deal.probability)


def test_bench_seed_info_names_open_deals_customers_and_stages(tmp_path):
    info, _ = seed(tmp_path)
    org_id = info["organization"]

    lo, hi = info["open_deal_ids"]
    open_deals = Deal.objects.filter(pk__range=(lo, hi))
    assert open_deals.count() == 8
    assert not open_deals.filter(is_won=True).exists()
    assert not open_deals.filter(is_lost=True).exists()
    assert set(open_deals.values_list("organization_id", flat=True)) == {org_id}
    lo, hi = info["customer_ids"]
    assert Customer.objects.filter(pk__range=(lo, hi), organization_id=org_id).count() == 30
    stages = PipelineStage.objects.filter(pk__in=info["stages"])
    assert {stage.pipeline.organization_id for stage in stages} == {org_id}
    assert info["search"] in {name.lower() for name in LAST_NAMES}


def test_bench_seed_run_twice_reuses_the_benchmark_user(tmp_path):
    first, _ = seed(tmp_path, small_organizations=0)
    second, _ = seed(tmp_path, small_organizations=0)

    assert first["organization"] != second["organization"]
    assert User.objects.filter(email=BENCH_EMAIL).count() == 1
    assert Customer.objects.filter(organization_id=second["organization"]).count() == 30


def test_bench_seed_defaults_leads_and_deals_from_customers(tmp_path):
    info, _ = seed(tmp_path, customers=50, leads=None, deals=None, small_organizations=0)

    org_id = info["organization"]
    assert Lead.objects.filter(organization_id=org_id).count() == 10
    assert Deal.objects.filter(organization_id=org_id).count() == 5
