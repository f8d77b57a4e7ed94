"""The layout's rules that a reviewer would otherwise have to remember.

- every organization-owned model declares how it reaches its organization (`TENANT_PATH`), and
  that path is spelled nowhere else;
- serializers validate and never save; every scoped CRUD viewset writes through its services,
  bulk updates included;
- services raise domain errors, which the exception handler maps by class.
"""

import pathlib
import re

import pytest
from django.apps import apps
from django.db import OperationalError

from crmApp import errors
from crmApp.exceptions import envelope_exception_handler
from crmApp.models import Customer, Deal, PipelineStage
from crmApp.models.base import organization_id_of
from crmApp.serializers.customers import CustomerSerializer
from crmApp.services import customers as customer_services
from crmApp.urls import router
from crmApp.viewsets.base import OrganizationScopedViewSet
from tests.factories import CustomerFactory, DealFactory, PipelineStageFactory

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Models that belong to a user, not to an organization.
NOT_TENANT_OWNED = {
    "User",
    "UserSession",
    "PasswordResetToken",
    "EmailVerificationToken",
    "IdempotencyKey",
}


def crm_models():
    return list(apps.get_app_config("crmApp").get_models())


def test_every_organization_owned_model_declares_its_tenant_path():
    missing = [
        model.__name__
        for model in crm_models()
        if model.__name__ not in NOT_TENANT_OWNED and not hasattr(model, "TENANT_PATH")
    ]
    assert missing == []


@pytest.mark.django_db
def test_the_tenant_path_leads_to_the_owning_organization(org):
    stage = PipelineStageFactory(pipeline__organization=org)
    deal = DealFactory(organization=org)
    assert organization_id_of(stage) == org.pk
    assert organization_id_of(deal) == org.pk
    assert organization_id_of(org) == org.pk
    owned = PipelineStage.objects.filter(**{PipelineStage.TENANT_PATH: org.pk})
    assert stage in owned and deal.stage in owned


def test_the_stage_tenant_path_is_spelled_only_on_its_model():
    spelled = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "crmApp").rglob("*.py")
        if "migrations" not in path.parts and "pipeline__organization" in path.read_text()
    ]
    assert spelled == ["crmApp/models/pipelines.py"]


def test_viewsets_never_shape_querysets_themselves():
    """Reads live in the selectors: no viewset declares `scope_queryset` or a model queryset
    of its own beyond the one the base derives from the selector."""
    shaped = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "crmApp" / "viewsets").glob("*.py")
        if re.search(
            r"select_related|prefetch_related|\.annotate\(|def scope_queryset", path.read_text()
        )
    ]
    assert shaped == []


@pytest.mark.django_db
def test_serializers_validate_but_never_save(owner, org):
    customer = CustomerFactory(organization=org)
    form = CustomerSerializer(customer, data={"name": "Renamed"}, partial=True)
    assert form.is_valid(), form.errors
    with pytest.raises(TypeError, match="validates only"):
        form.save()
    customer.refresh_from_db()
    assert customer.name != "Renamed"


def scoped_crud_viewsets():
    return [
        viewset
        for _prefix, viewset, _basename in router.registry
        if issubclass(viewset, OrganizationScopedViewSet)
    ]


@pytest.mark.parametrize("viewset", scoped_crud_viewsets(), ids=lambda v: v.__name__)
def test_every_scoped_crud_viewset_writes_through_services(viewset):
    for hook in ("create_record", "update_record", "destroy_record"):
        assert getattr(viewset, hook) is not getattr(OrganizationScopedViewSet, hook), (
            f"{viewset.__name__} does not hand {hook} to a service"
        )


@pytest.mark.django_db
def test_bulk_update_calls_the_per_row_update_service(owner, org, monkeypatch):
    customers = CustomerFactory.create_batch(3, organization=org, industry="old")
    seen = []
    update = customer_services.customer_update

    def recording_update(**kwargs):
        seen.append(kwargs["customer"].pk)
        return update(**kwargs)

    monkeypatch.setattr(customer_services, "customer_update", recording_update)
    response = owner.client.post(
        "/api/customers/bulk_update/",
        {"ids": [c.pk for c in customers], "data": {"industry": "new"}},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert sorted(seen) == sorted(c.pk for c in customers)
    assert set(Customer.objects.filter(pk__in=seen).values_list("industry", flat=True)) == {"new"}


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (
            errors.InvalidInput({"name": ["Too long."]}),
            400,
            {"error": "An error occurred", "details": {"name": ["Too long."]}, "status_code": 400},
        ),
        (
            errors.RecordInvalid({"non_field_errors": ["No."]}),
            400,
            {
                "error": "Validation Error",
                "details": {"non_field_errors": ["No."]},
                "status_code": 400,
            },
        ),
        (
            errors.MissingInput("stage_id"),
            400,
            {
                "error": "stage_id is required",
                "details": {"detail": "stage_id is required"},
                "status_code": 400,
            },
        ),
        (
            errors.NotFound("Stage not found"),
            404,
            {
                "error": "Stage not found",
                "details": {"detail": "Stage not found"},
                "status_code": 404,
            },
        ),
        (
            errors.RecordMissing("PipelineStage"),
            404,
            {
                "error": "Not Found",
                "details": "No PipelineStage matches the given query.",
                "status_code": 404,
            },
        ),
        (
            errors.Forbidden("Only owners."),
            403,
            {"error": "Only owners.", "details": {"detail": "Only owners."}, "status_code": 403},
        ),
        (
            errors.Conflict(),
            409,
            {
                "error": errors.Conflict.default_message,
                "details": {"detail": errors.Conflict.default_message},
                "status_code": 409,
            },
        ),
    ],
)
def test_domain_errors_map_to_the_envelope_by_class(error, status, body):
    response = envelope_exception_handler(error, {})
    assert response.status_code == status
    assert response.data == body


class _DeadlockCause(Exception):
    sqlstate = "40P01"


def test_a_deadlock_is_recognised_by_its_sqlstate_not_its_message():
    deadlock = OperationalError("anything at all")
    deadlock.__cause__ = _DeadlockCause()
    assert envelope_exception_handler(deadlock, {}).status_code == 409

    worded_like_one = OperationalError("deadlock detected")
    assert envelope_exception_handler(worded_like_one, {}).status_code == 500


@pytest.mark.django_db
def test_a_service_refusal_leaves_the_row_unchanged(manager, org):
    deal = DealFactory(organization=org)
    deal_before = Deal.objects.values().get(pk=deal.pk)
    response = manager.client.post(f"/api/deals/{deal.pk}/move_stage/", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "stage_id is required",
        "details": {"detail": "stage_id is required"},
        "status_code": 400,
    }
    assert Deal.objects.values().get(pk=deal.pk) == deal_before
