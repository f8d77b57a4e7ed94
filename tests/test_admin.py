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


PROJECT_MODELS = [m for m in admin.site._registry if m._meta.app_label == "crmApp"]


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m._meta.label)
def test_every_admin_list_has_columns_search_and_filters(admin_client, model):
    model_admin = admin.site._registry[model]
    opts = model._meta

    assert model_admin.list_display != ("__str__",)
    assert model_admin.search_fields
    searched = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": "1"}
    )
    assert searched.status_code == 200
    if model is not User:
        assert model_admin.list_filter


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


def test_an_admin_edit_records_the_event_and_audit_row_of_an_api_update(two_worlds, client):
    from crmApp.models import AuditEvent, Event

    here, _ = two_worlds  # built directly, without events
    old_stage = here.deal.stage_id

    response = _change(client, here.deal, stage=here.other_stage)

    assert response.status_code == 302
    boss = _boss()
    # Typed form values (`"1000"` for a stored 1000.00) are recorded as stored: unchanged.
    unchanged = {"value", "probability", "currency", "title", "status", "customer_id"}
    assert _events("deal.updated", here.deal.pk) == [(here.organization.pk, boss.pk)]
    audit = AuditEvent.objects.get(resource="deal", record_id=here.deal.pk, action="updated")
    assert (audit.organization_id, audit.actor_id) == (here.organization.pk, boss.pk)
    assert audit.changes["stage_id"] == {"old": old_stage, "new": here.other_stage.pk}
    assert unchanged & set(audit.changes) == set()
    assert Event.objects.filter(type="deal.created", resource_id=here.deal.pk).count() == 0


def test_an_admin_add_records_the_created_event_and_audit_row(two_worlds, client):
    from crmApp.models import AuditEvent, Customer

    here, _ = two_worlds
    url = reverse("admin:crmApp_customer_add")
    data = {
        "organization": str(here.organization.pk),
        "name": "Added in the admin",
        "email": "added@example.com",
        "customer_type": "individual",
        "status": "active",
        "_save": "Save",
    }

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    added = Customer.objects.get(name="Added in the admin")
    assert _events("customer.created", added.pk) == [(here.organization.pk, _boss().pk)]
    audit = AuditEvent.objects.get(resource="customer", record_id=added.pk)
    assert (audit.action, audit.changes["name"]) == (
        "created",
        {"old": None, "new": "Added in the admin"},
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


# --- actions through the services -------------------------------------------------------------


def _action(client, model: str, action: str, records, **extra):
    """Post `action` for `records` from the changelist, following the redirect back."""
    data = {"action": action, "_selected_action": [str(r.pk) for r in records], **extra}
    if "apply" not in extra:
        data["index"] = "0"  # posted from the changelist's action bar
    return client.post(reverse(f"admin:crmApp_{model}_changelist"), data, follow=True)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def _events(type_: str, resource_id: int) -> list[tuple]:
    from crmApp.models import Event

    return list(
        Event.objects.filter(type=type_, resource_id=resource_id).values_list(
            "organization_id", "actor_id"
        )
    )


def _boss():
    return User.objects.get(email="boss@example.com")


def test_mark_won_goes_through_the_deal_service(two_worlds, client):
    from crmApp.models import DealStageHistory

    here, _ = two_worlds

    response = _action(client, "deal", "mark_won", [here.deal])

    assert _messages(response) == [("success", "1 deal(s) marked as won.")]
    here.deal.refresh_from_db()
    assert (here.deal.is_won, here.deal.status, str(here.deal.probability)) == (
        True,
        "closed",
        "100.00",
    )
    assert _events("deal.won", here.deal.pk) == [(here.organization.pk, _boss().pk)]
    latest = DealStageHistory.objects.filter(deal=here.deal).latest("pk")
    assert (latest.outcome, latest.actor_id, latest.left_at) == ("won", _boss().pk, None)


def test_a_refused_transition_is_a_message_and_the_others_are_done(two_worlds, client):
    from crmApp.services.deals import deal_mark_lost

    here, there = two_worlds
    deal_mark_lost(deal=here.deal, actor=None, lost_reason="budget")
    here.deal.refresh_from_db()
    before = _row(here.deal)

    response = _action(client, "deal", "mark_won", [here.deal, there.deal])

    assert response.status_code == 200
    assert _messages(response) == [
        (
            "error",
            f"Deal here ({here.deal.pk}): A lost deal cannot be marked as won; reopen it first.",
        ),
        ("success", "1 deal(s) marked as won."),
    ]
    assert _row(here.deal) == before
    assert _events("deal.won", here.deal.pk) == []
    there.deal.refresh_from_db()
    assert there.deal.is_won is True
    assert _events("deal.won", there.deal.pk) == [(there.organization.pk, _boss().pk)]


def test_mark_lost_asks_for_the_reason_first(two_worlds, client):
    here, _ = two_worlds

    page = _action(client, "deal", "mark_lost", [here.deal])

    # the form names the selection and nothing changed yet
    assert page.status_code == 200
    assert [t.name for t in page.templates][0] == "admin/crmApp/action_form.html"
    html = page.content.decode()
    assert 'name="lost_reason"' in html
    assert f'name="_selected_action" value="{here.deal.pk}"' in html
    assert 'name="action" value="mark_lost"' in html
    here.deal.refresh_from_db()
    assert here.deal.is_lost is False

    done = _action(client, "deal", "mark_lost", [here.deal], apply="Mark", lost_reason="Budget")

    assert _messages(done) == [("success", "1 deal(s) marked as lost.")]
    here.deal.refresh_from_db()
    assert (here.deal.is_lost, here.deal.lost_reason, str(here.deal.probability)) == (
        True,
        "Budget",
        "0.00",
    )
    assert _events("deal.lost", here.deal.pk) == [(here.organization.pk, _boss().pk)]


def test_convert_creates_each_customer_in_its_leads_own_organization(two_worlds, client):
    from crmApp.models import Customer, Lead

    here, there = two_worlds

    page = _action(client, "lead", "convert_leads", [here.lead, there.lead])
    assert 'name="customer_type"' in page.content.decode()
    assert Customer.objects.filter(converted_from_lead__isnull=False).count() == 0

    done = _action(
        client,
        "lead",
        "convert_leads",
        [here.lead, there.lead],
        apply="Convert",
        customer_type="individual",
    )

    assert _messages(done) == [("success", "2 lead(s) converted into customers.")]
    for world in (here, there):
        lead = Lead.objects.get(pk=world.lead.pk)
        customer = Customer.objects.get(converted_from_lead=lead)
        assert (lead.is_converted, lead.qualification_status) == (True, "converted")
        assert (customer.organization_id, customer.name, customer.customer_type) == (
            world.organization.pk,
            lead.name,
            "individual",
        )
        assert customer.assigned_to_id is None
        assert _events("lead.converted", lead.pk) == [(world.organization.pk, _boss().pk)]
        assert _events("customer.created", customer.pk) == [(world.organization.pk, _boss().pk)]


def test_converting_a_converted_lead_is_refused_with_a_message(two_worlds, client):
    from crmApp.models import Customer
    from crmApp.services.leads import lead_convert

    here, _ = two_worlds
    lead_convert(lead=here.lead, actor=here.owner.user)
    customers = Customer.objects.count()

    done = _action(
        client, "lead", "convert_leads", [here.lead], apply="Convert", customer_type="business"
    )

    assert _messages(done) == [
        ("error", f"Lead here ({here.lead.pk}): Lead has already been converted.")
    ]
    assert Customer.objects.count() == customers


def test_an_invalid_action_form_is_shown_again_and_changes_nothing(two_worlds, client):
    from crmApp.models import Customer

    here, _ = two_worlds

    page = _action(client, "lead", "convert_leads", [here.lead], apply="Convert", customer_type="x")

    assert page.status_code == 200
    assert "Select a valid choice" in page.content.decode()
    assert Customer.objects.filter(converted_from_lead=here.lead).exists() is False


@pytest.mark.parametrize("model", ["customer", "lead", "deal"])
def test_export_selected_writes_the_apis_csv(two_worlds, client, model):
    import csv
    import io

    here, there = two_worlds
    record = getattr(here, model)
    type(record).objects.filter(pk=record.pk).update(**{"external_id": "=HYPERLINK(1)"})

    response = client.post(
        reverse(f"admin:crmApp_{model}_changelist"),
        {"action": "export_csv", "_selected_action": [str(record.pk)], "index": "0"},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == f'attachment; filename="{model}_export.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header = [field.name for field in type(record)._meta.concrete_fields]
    assert rows[0] == header
    assert len(rows) == 2  # only the selected record, not the other organization's
    exported = dict(zip(header, rows[1], strict=True))
    assert exported["id"] == str(record.pk)
    assert exported["organization"] == str(here.organization.pk)
    assert exported["external_id"] == "'=HYPERLINK(1)"


def test_deleting_in_the_admin_records_the_deleted_events(two_worlds, client):
    from crmApp.models import Customer, Vendor

    here, _ = two_worlds
    customer = Customer.objects.create(organization=here.organization, name="Gone soon")

    response = _action(client, "customer", "delete_selected", [customer], post="yes")
    single = client.post(
        reverse("admin:crmApp_vendor_delete", args=[here.vendor.pk]), {"post": "yes"}
    )

    assert response.status_code == 200 and single.status_code == 302
    assert Customer.objects.filter(pk=customer.pk).exists() is False
    assert Vendor.objects.filter(pk=here.vendor.pk).exists() is False
    assert _events("customer.deleted", customer.pk) == [(here.organization.pk, _boss().pk)]
    assert _events("vendor.deleted", here.vendor.pk) == [(here.organization.pk, _boss().pk)]


def test_staff_without_the_change_permission_are_not_offered_the_transitions(org, client):
    from django.contrib.auth.models import Permission as DjangoPermission

    staff = User.objects.create_user("desk@example.com", "desk", "Sturdy-Passw0rd!", is_staff=True)
    staff.user_permissions.add(DjangoPermission.objects.get(codename="view_deal"))
    client.force_login(staff)

    response = client.get(reverse("admin:crmApp_deal_changelist"))

    offered = [value for value, _ in response.context["action_form"].fields["action"].choices]
    assert offered == ["", "export_csv"]


def test_deal_filters_offer_the_chosen_organizations_records_only(two_worlds, client):
    here, there = two_worlds
    url = reverse("admin:crmApp_deal_changelist")

    unnarrowed = client.get(url)
    narrowed = client.get(url, {"organization__id__exact": here.organization.pk})
    by_stage = client.get(
        url, {"organization__id__exact": here.organization.pk, "stage": here.stage.pk}
    )
    by_other_stage = client.get(
        url, {"organization__id__exact": here.organization.pk, "stage": here.other_stage.pk}
    )

    def choices(response, title):
        (spec,) = [s for s in response.context["cl"].filter_specs if s.title == title]
        return [c["display"] for c in spec.choices(response.context["cl"])][1:]  # 0: "All"

    titles = {spec.title for spec in unnarrowed.context["cl"].filter_specs if spec.has_output()}
    assert {"stage", "pipeline", "assignee"} & titles == set()
    assert choices(narrowed, "stage") == ["Stage here", "Later here"]
    assert choices(narrowed, "pipeline") == ["Pipe here"]
    assert choices(narrowed, "assignee") == [str(here.manager), str(here.employee)]
    assert list(by_stage.context["cl"].result_list) == [here.deal]
    assert list(by_other_stage.context["cl"].result_list) == []


def test_the_audit_log_is_read_only_in_the_admin(admin_client, org):
    from crmApp.models import AuditEvent

    row = AuditEvent.objects.filter(organization=org).first()
    change_url = reverse("admin:crmApp_auditevent_change", args=[row.pk])

    add = admin_client.get(reverse("admin:crmApp_auditevent_add"))
    posted = admin_client.post(change_url, {"action": "forged"})
    deleted = admin_client.post(reverse("admin:crmApp_auditevent_delete", args=[row.pk]))

    assert (add.status_code, posted.status_code, deleted.status_code) == (403, 403, 403)
    assert AuditEvent.objects.get(pk=row.pk).action == row.action
