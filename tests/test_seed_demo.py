"""The demo data command: idempotent, realistic, and its printed logins work."""

from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from crmApp.management.commands.seed_demo import DEMO_PASSWORD
from crmApp.models import (
    Customer,
    Deal,
    DealStageHistory,
    Employee,
    Lead,
    Organization,
    Pipeline,
    PipelineStage,
    User,
    UserOrganization,
    UserRole,
    Vendor,
)
from crmApp.models.deals import compute_expected_revenue
from crmApp.selectors import reports
from crmApp.selectors.reports import ReportFilters
from tests.stays_support import plain_stays, stored_stays

pytestmark = pytest.mark.django_db

MODELS = (
    Organization,
    User,
    UserOrganization,
    UserRole,
    Employee,
    Vendor,
    Customer,
    Lead,
    Pipeline,
    PipelineStage,
    Deal,
)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)  # the test settings run with DEBUG off
    return out.getvalue()


def test_seed_demo_refuses_a_non_debug_database_without_force(settings, monkeypatch):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    monkeypatch.delenv("SEED_DEMO_FORCE", raising=False)
    with pytest.raises(CommandError) as refused:
        call_command("seed_demo", stdout=StringIO())
    assert "DEBUG is off, so this looks like a production database" in str(refused.value)
    assert "--force" in str(refused.value)
    assert counts() == dict.fromkeys(counts(), 0)


def test_seed_demo_runs_with_debug_on_or_when_forced_by_the_environment(settings, monkeypatch):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    seeded = counts()
    assert seeded["Organization"] == 2

    settings.DEBUG = False
    monkeypatch.setenv("SEED_DEMO_FORCE", "true")
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert out.getvalue().startswith("Demo data already present; nothing added.")
    assert counts() == seeded


def test_demo_stages_are_numbered_from_zero_like_the_api():
    seed()
    for pipeline in Pipeline.objects.all():
        orders = list(pipeline.stages.order_by("order").values_list("order", flat=True))
        assert orders == list(range(len(orders)))


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture
def seeded() -> str:
    return seed()


def test_running_twice_adds_nothing(seeded):
    first = counts()

    output = seed()

    assert counts() == first
    assert "already present" in output
    assert first == {
        "Organization": 2,
        "User": 6,
        "UserOrganization": 6,
        "UserRole": 4,
        "Employee": 28,
        "Vendor": 20,
        "Customer": 340,
        "Lead": 340,
        "Pipeline": 4,
        "PipelineStage": 22,
        "Deal": 170,
    }


def test_output_lists_the_logins_and_the_password(seeded):
    for email in (
        "owner@acme.example",
        "admin@acme.example",
        "manager@acme.example",
        "sales@acme.example",
        "viewer@acme.example",
        "owner@globex.example",
    ):
        assert email in seeded
    assert DEMO_PASSWORD in seeded


def test_printed_account_logs_in_and_sees_its_organization(api_client, seeded):
    response = api_client.post(
        "/api/auth/login/",
        {"email": "owner@acme.example", "password": DEMO_PASSWORD},
        format="json",
    )

    assert response.status_code == 200, response.data
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.data['tokens']['access']}")
    employees = api_client.get("/api/employees/")
    assert employees.status_code == 200
    assert employees.json()["count"] == 20
    organizations = api_client.get("/api/organizations/")
    assert [row["name"] for row in organizations.json()["results"]] == ["Acme Corp"]


def test_role_accounts_get_their_system_roles(seeded):
    acme = Organization.objects.get(name="Acme Corp")
    roles = dict(
        UserRole.objects.filter(organization=acme).values_list("user__email", "role__slug")
    )

    assert roles == {
        "admin@acme.example": "admin",
        "manager@acme.example": "manager",
        "sales@acme.example": "sales",
        "viewer@acme.example": "viewer",
    }
    owners = UserOrganization.objects.filter(is_owner=True).values_list(
        "user__email", "organization__name"
    )
    assert sorted(owners) == [
        ("owner@acme.example", "Acme Corp"),
        ("owner@globex.example", "Globex Inc"),
    ]


def test_demo_accounts_are_verified_and_their_memberships_exist(seeded):
    assert not User.objects.filter(email_verified_at__isnull=True).exists()
    assert UserOrganization.objects.filter(is_active=True).count() == 6


def test_records_are_consistent(seeded):
    for organization in Organization.objects.all():
        pipelines = Pipeline.objects.filter(organization=organization)
        assert pipelines.filter(is_default=True).count() == 1
        for pipeline in pipelines:
            stages = pipeline.stages.all()
            assert 5 <= len(stages) <= 6
            assert sum(stage.is_closed_won for stage in stages) == 1
            assert sum(stage.is_closed_lost for stage in stages) == 1
        employees = Employee.objects.filter(organization=organization)
        assert employees.filter(manager__isnull=True).count() == 1
        assert (
            not employees.exclude(manager__isnull=True)
            .exclude(manager__organization=organization)
            .exists()
        )
        codes = list(employees.values_list("code", flat=True))
        assert len(set(codes)) == len(codes) and all(code.startswith("EMP-") for code in codes)

    deals = list(Deal.objects.select_related("stage", "customer"))
    assert all(deal.code and deal.code.startswith("DEAL-") for deal in deals)
    assert all(
        deal.expected_revenue == compute_expected_revenue(deal.value, deal.probability)
        for deal in deals
    )
    assert all(deal.customer.organization_id == deal.organization_id for deal in deals)
    assert all(deal.is_won == deal.stage.is_closed_won for deal in deals)
    assert all(deal.is_lost == deal.stage.is_closed_lost for deal in deals)
    assert any(deal.is_won for deal in deals) and any(deal.is_lost for deal in deals)
    assert len({lead.source for lead in Lead.objects.all()}) >= 6
    assert len({lead.qualification_status for lead in Lead.objects.all()}) == 6
    converted = Lead.objects.filter(is_converted=True)
    assert converted.exists()
    assert all(lead.converted_customers.count() == 1 for lead in converted)


def test_every_demo_deal_has_the_history_the_deal_services_would_write(seeded):
    for deal in Deal.objects.prefetch_related("stage_history"):
        rows = sorted(deal.stage_history.all(), key=lambda row: row.entered_at)
        assert [row.left_at for row in rows[:-1]] == [row.entered_at for row in rows[1:]]
        assert rows[-1].left_at is None and rows[-1].stage_id == deal.stage_id
        outcome = "won" if deal.is_won else "lost" if deal.is_lost else "open"
        assert [row.outcome for row in rows] == ["open"] * (len(rows) - 1) + [outcome]
        assert {row.organization_id for row in rows} == {deal.organization_id}
        assert deal.created_at == rows[0].entered_at < timezone.now()
    assert stored_stays() == plain_stays() != Counter()

    acme = Organization.objects.get(name="Acme Corp")
    filters = ReportFilters(organization_ids=frozenset({acme.pk}))
    assert all(stage["reached"] for stage in reports.funnel(filters)["pipelines"][0]["stages"][:2])
    in_stage = reports.time_in_stage(filters)["stages"]
    # Every stay of a deal now open, finished or not, in its stage's figures.
    stays = DealStageHistory.objects.filter(organization=acme, outcome="open")
    open_deals = stays.filter(deal__is_won=False, deal__is_lost=False)
    assert sum(stage["open_deals"]["count"] for stage in in_stage) == open_deals.count() > 0
    assert any(stage["closed_deals"]["count"] for stage in in_stage)


def test_the_data_is_deterministic(seeded):
    first = list(Customer.objects.order_by("id").values_list("name", "email")[:20])
    deals = list(Deal.objects.order_by("id").values_list("title", "value")[:20])
    for model in (Deal, Customer, Lead, Employee, Vendor, Pipeline, UserOrganization, UserRole):
        model.objects.all().delete()
    Organization.objects.all().delete()
    User.objects.all().delete()

    seed()

    assert list(Customer.objects.order_by("id").values_list("name", "email")[:20]) == first
    assert list(Deal.objects.order_by("id").values_list("title", "value")[:20]) == deals


def test_the_demo_password_passes_the_password_rules():
    from django.contrib.auth.password_validation import validate_password

    validate_password(DEMO_PASSWORD)
