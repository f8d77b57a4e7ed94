"""Django admin: every registered model's list, add and change pages load for a superuser."""

import pytest
from django.contrib import admin
from django.urls import reverse

from crmApp.models import User
from tests.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, org):
    build_world(org, marker="adminpages")
    superuser = User.objects.create_superuser("root@example.com", "root", "Sturdy-Passw0rd!")
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_admin_pages_load(admin_client, model):
    opts = model._meta
    changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    add = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    assert add.status_code in (200, 403)
    row = model.objects.order_by("pk").first()
    if row is not None:
        change = admin_client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
        )
        assert change.status_code == 200


def test_every_project_model_is_registered():
    from django.apps import apps

    missing = [
        m._meta.label
        for m in apps.get_app_config("crmApp").get_models()
        if m not in admin.site._registry
    ]
    assert missing == []


# --- the back-office: tenant isolation in every form ----------------------------------------


@pytest.fixture
def two_worlds(client, org, other_org):
    from crmApp.models import DealStageHistory

    here = build_world(org, marker="here")
    there = build_world(other_org, marker="there")
    superuser = User.objects.create_superuser("boss@example.com", "boss", "Sturdy-Passw0rd!")
    client.force_login(superuser)
    assert DealStageHistory.objects.filter(organization=org).exists()
    return here, there


def _form_data(instance) -> dict:
    """What the admin change form of `instance` posts back unchanged."""
    from django.forms import CheckboxInput, MultiWidget
    from django.test import RequestFactory

    model_admin = admin.site._registry[type(instance)]
    request = RequestFactory().get("/")
    request.user = User.objects.filter(is_superuser=True).first()
    form = model_admin.get_form(request, instance)(instance=instance)
    data = {"_save": "Save"}
    for name, bound in form._bound_items():
        value = bound.field.prepare_value(bound.value())
        widget = bound.field.widget
        if isinstance(widget, MultiWidget):
            for index, part in enumerate(widget.decompress(value)):
                data[f"{name}_{index}"] = "" if part is None else str(part)
        elif isinstance(widget, CheckboxInput):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(item) for item in value]
        else:
            data[name] = "" if value is None else str(value)
    return data


def _change(client, instance, **changes):
    opts = instance._meta
    data = {**_form_data(instance), **{k: str(v.pk) for k, v in changes.items()}}
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[instance.pk])
    return client.post(url, data)


def _row(instance) -> dict:
    return type(instance).objects.values().get(pk=instance.pk)


FOREIGN_REFERENCES = [
    ("deal", "customer", "customer"),
    ("deal", "stage", "stage"),
    ("deal", "pipeline", "pipeline"),
    ("deal", "assigned_to", "employee"),
    ("deal", "lead", "lead"),
    ("customer", "assigned_to", "employee"),
    ("lead", "assigned_to", "employee"),
    ("employee", "manager", "manager"),
    ("user_role", "role", "role"),
    ("activity", "assignee", "employee"),
    ("activity", "customer", "customer"),
]


@pytest.mark.parametrize(("record", "field", "foreign"), FOREIGN_REFERENCES)
def test_an_admin_form_refuses_another_organizations_record(
    two_worlds, client, record, field, foreign
):
    here, there = two_worlds
    instance = getattr(here, record)
    before = _row(instance)

    response = _change(client, instance, **{field: getattr(there, foreign)})

    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert errors[field][0].startswith("Select a record of this record's own organization")
    assert _row(instance) == before


def test_an_admin_form_refuses_a_user_outside_the_organization(two_worlds, client):
    here, there = two_worlds
    before = _row(here.employee)

    response = _change(client, here.employee, user=there.owner.user)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["user"] == ["Select a user who is a member of this record's organization (Acme)."]
    assert _row(here.employee) == before


def test_the_organization_of_a_saved_record_cannot_change_in_the_admin(two_worlds, client):
    here, there = two_worlds
    deal = _change(client, here.deal, organization=there.organization)
    stage = _change(client, here.stage, pipeline=there.pipeline)

    assert (deal.status_code, stage.status_code) == (302, 302)  # the field is not in the form
    assert _row(here.deal)["organization_id"] == here.organization.pk
    assert _row(here.stage)["pipeline_id"] == here.pipeline.pk
    assert "organization" in admin.site._registry[type(here.deal)].get_readonly_fields(
        None, here.deal
    )
    assert "pipeline" in admin.site._registry[type(here.stage)].get_readonly_fields(
        None, here.stage
    )


def test_the_add_form_refuses_references_to_another_organization(two_worlds, client):
    from crmApp.models import Deal

    here, there = two_worlds
    count = Deal.objects.count()

    response = client.post(
        reverse("admin:crmApp_deal_add"),
        {
            "organization": here.organization.pk,
            "title": "Cross-tenant",
            "customer": there.customer.pk,
            "pipeline": here.pipeline.pk,
            "stage": there.stage.pk,
            "currency": "USD",
            "probability": "10",
            "status": "active",
            "priority": "medium",
            "tags": "[]",
            "_save": "Save",
        },
    )

    assert response.status_code == 200
    assert sorted(response.context["adminform"].form.errors) == ["customer", "stage"]
    assert Deal.objects.count() == count


def test_an_admin_form_within_one_organization_saves(two_worlds, client):
    here, _ = two_worlds

    response = _change(client, here.deal, stage=here.other_stage, assigned_to=here.manager)

    assert response.status_code == 302
    here.deal.refresh_from_db()
    assert (here.deal.stage_id, here.deal.assigned_to_id) == (
        here.other_stage.pk,
        here.manager.pk,
    )


def test_lists_show_the_useful_columns_and_lifecycle_fields_are_read_only(two_worlds, client):
    from crmApp.models import Customer, Deal, Lead

    here, _ = two_worlds
    deals = client.get(reverse("admin:crmApp_deal_changelist"), {"q": '"Deal here"'})
    assert deals.status_code == 200
    columns = [header["text"] for header in deals.context["result_headers"]][1:]  # 0: checkbox
    assert columns[:8] == [
        "code",
        "title",
        "organization",
        "customer",
        "pipeline",
        "stage",
        "value",
        "currency",
    ]
    assert list(deals.context["cl"].result_list) == [here.deal]
    for model, read_only in (
        (Deal, {"code", "expected_revenue", "is_won", "is_lost", "created_at", "updated_at"}),
        (Lead, {"code", "is_converted", "converted_at", "converted_by", "created_at"}),
        (Customer, {"code", "converted_from_lead", "converted_at", "created_at"}),
    ):
        assert read_only <= set(admin.site._registry[model].readonly_fields), model
    change = client.get(reverse("admin:crmApp_deal_change", args=[here.deal.pk]))
    form_fields = set(change.context["adminform"].form.fields)
    assert {"code", "expected_revenue", "is_won", "is_lost"} & form_fields == set()
    assert 'class="admin-autocomplete' in change.content.decode()


def test_the_audit_log_is_read_only_in_the_admin(admin_client, org):
    from crmApp.models import AuditEvent

    row = AuditEvent.objects.filter(organization=org).first()
    change_url = reverse("admin:crmApp_auditevent_change", args=[row.pk])

    add = admin_client.get(reverse("admin:crmApp_auditevent_add"))
    posted = admin_client.post(change_url, {"action": "forged"})
    deleted = admin_client.post(reverse("admin:crmApp_auditevent_delete", args=[row.pk]))

    assert (add.status_code, posted.status_code, deleted.status_code) == (403, 403, 403)
    assert AuditEvent.objects.get(pk=row.pk).action == row.action
