"""The benchmark app: its seeding command (bulk rows that look like API-created ones), and its
absence unless BENCH_ENDPOINTS is on.

The suite runs without crmBench installed, as production does. crmBench has no models, so its
command module imports anyway and is called as an instance: by name it would not be found.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command

from crmApp.models import (
    CodeSequence,
    Customer,
    Deal,
    DealStageHistory,
    Lead,
    Organization,
    PipelineStage,
    StageEntryTally,
    User,
    UserOrganization,
)
from crmApp.models.deals import compute_expected_revenue
from crmBench.management.commands.bench_seed import (
    BENCH_EMAIL,
    BENCH_PASSWORD,
    BIG_ORGANIZATION,
    LAST_NAMES,
    Command,
)
from tests.stays_support import plain_stays, stored_stays

ROOT = Path(__file__).resolve().parent.parent

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
    call_command(Command(), **{**defaults, **options})
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


def test_bench_seed_gives_each_deal_the_open_history_row_and_tallies_the_services_would(
    tmp_path,
):
    seed(tmp_path)

    rows = DealStageHistory.objects.filter(left_at__isnull=True)
    assert rows.count() == Deal.objects.count() == DealStageHistory.objects.count()
    for row in rows.select_related("deal"):
        deal = row.deal
        assert (row.organization_id, row.stage_id) == (deal.organization_id, deal.stage_id)
        assert row.entered_at == deal.created_at
        assert row.outcome == ("won" if deal.is_won else "lost" if deal.is_lost else "open")
    assert stored_stays() == plain_stays() != Counter()
    assert StageEntryTally.objects.filter(first_entries__gt=0).exists()


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


# What a fresh process sees: the app, the command and the bench route (or their absence).
PROBE = """
import json

import django

django.setup()
from django.apps import apps
from django.conf import settings
from django.core.management import get_commands
from django.urls import Resolver404, resolve

try:
    view = resolve("/api/bench/customers/").func
    route = f"{view.__module__}.{view.__name__}"
except Resolver404:
    route = None
print(json.dumps({
    "installed": apps.is_installed("crmBench"),
    "in_installed_apps": "crmBench" in settings.INSTALLED_APPS,
    "command": get_commands().get("bench_seed"),
    "route": route,
}))
"""


def _probe(bench_endpoints: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_ENDPOINTS", "CRM_SERVING")}
    env.update(
        BENCH_ENDPOINTS=bench_endpoints,
        DJANGO_SETTINGS_MODULE="crmAdmin.settings",
        DATABASE_URL="sqlite:////tmp/crm-bench-probe.sqlite3",
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_bench_endpoints_the_app_command_and_route_do_not_exist():
    assert _probe("false") == {
        "installed": False,
        "in_installed_apps": False,
        "command": None,
        "route": None,
    }


def test_with_bench_endpoints_the_app_brings_the_command_and_the_route():
    assert _probe("true") == {
        "installed": True,
        "in_installed_apps": True,
        "command": "crmBench",
        "route": "crmBench.views.bare_customers",
    }


def test_the_suite_runs_without_the_bench_app(client):
    if settings.BENCH_ENDPOINTS:
        pytest.skip("BENCH_ENDPOINTS is on in this environment")
    assert not apps.is_installed("crmBench")
    assert "crmBench" not in settings.INSTALLED_APPS
    assert client.get("/api/bench/customers/?organization=1").status_code == 404
