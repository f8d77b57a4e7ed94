"""Back-office actions of the Django admin, carried out by the same services as the API.

An action runs the resource's service once per selected record, with the staff member as the
actor, so every rule holds (the deal state machine, "a lead converts once") and every change
records its domain event and stage history exactly as through the API. Each record is its own
transaction (the service's): a refusal of one record is reported as an admin message naming
it and leaves the others done, never a 500. Actions that need a value first (a lost reason,
the new customer's type) show a small form (`admin/crmApp/action_form.html`) and run when it
is posted back valid.
"""

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.template.response import TemplateResponse

from crmApp.csv_export import csv_download
from crmApp.errors import DomainError
from crmApp.models import Customer, Deal, Lead
from crmApp.models.base import tenant_filter
from crmApp.selectors.base import ResourceSelector
from crmApp.selectors.customers import CustomerSelector
from crmApp.selectors.deals import DealSelector
from crmApp.selectors.leads import LeadSelector
from crmApp.services import deals as deal_services
from crmApp.services import leads as lead_services

#: How many selected records the intermediate form names before "and N more".
NAMED_ON_FORM = 20


def refusal_text(error: DomainError) -> str:
    """A service refusal as one line: its field messages when it has them, else its message."""
    if isinstance(error.details, dict):
        texts = []
        for field_messages in error.details.values():
            texts += field_messages if isinstance(field_messages, list) else [field_messages]
        if texts:
            return " ".join(str(text) for text in texts)
    return error.message


def run_service(
    model_admin: admin.ModelAdmin,
    request,
    queryset: QuerySet,
    service: Callable[[Model], object],
    *,
    done: str,
) -> None:
    """Call `service(record)` for each selected record in id order and report the outcome:
    one success message with the count, one error message per refused record."""
    succeeded = 0
    for record in queryset.order_by("pk"):
        try:
            service(record)
        except DomainError as error:
            model_admin.message_user(
                request, f"{record} ({record.pk}): {refusal_text(error)}", messages.ERROR
            )
        else:
            succeeded += 1
    if succeeded:
        model_admin.message_user(request, done.format(count=succeeded), messages.SUCCESS)


def action_form(
    model_admin: admin.ModelAdmin,
    request,
    queryset: QuerySet,
    form_class: type[forms.Form],
    *,
    title: str,
):
    """`(form, None)` once the action's form was posted back valid, else `(None, page)`: the
    page asking for the values, which posts the selection back to the same action."""
    if "apply" in request.POST:
        form = form_class(request.POST)
        if form.is_valid():
            return form, None
    else:
        form = form_class()
    selected = list(queryset.order_by("pk").values_list("pk", flat=True))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": selected,
        "named": queryset.order_by("pk")[:NAMED_ON_FORM],
        "unnamed": max(len(selected) - NAMED_ON_FORM, 0),
    }
    return None, TemplateResponse(request, "admin/crmApp/action_form.html", context)


class LostReasonForm(forms.Form):
    lost_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded on each deal; may stay empty.",
    )


class ConvertForm(forms.Form):
    customer_type = forms.ChoiceField(
        choices=Customer.CustomerType.choices, initial=Customer.CustomerType.BUSINESS
    )


@admin.action(description="Mark selected deals as won", permissions=["change"])
def mark_won(model_admin, request, queryset):
    run_service(
        model_admin,
        request,
        queryset,
        lambda deal: deal_services.deal_mark_won(deal=deal, actor=request.user),
        done="{count} deal(s) marked as won.",
    )


@admin.action(description="Mark selected deals as lost …", permissions=["change"])
def mark_lost(model_admin, request, queryset):
    form, page = action_form(
        model_admin, request, queryset, LostReasonForm, title="Mark deals as lost"
    )
    if form is None:
        return page
    reason = form.cleaned_data["lost_reason"]
    run_service(
        model_admin,
        request,
        queryset,
        lambda deal: deal_services.deal_mark_lost(
            deal=deal, actor=request.user, lost_reason=reason
        ),
        done="{count} deal(s) marked as lost.",
    )
    return None


@admin.action(description="Convert selected leads into customers …", permissions=["change"])
def convert_leads(model_admin, request, queryset):
    form, page = action_form(
        model_admin, request, queryset, ConvertForm, title="Convert leads into customers"
    )
    if form is None:
        return page
    customer_type = form.cleaned_data["customer_type"]
    run_service(
        model_admin,
        request,
        queryset,
        # The new customer is left unassigned: the lead's assignee is the lead's, and the
        # customer's is chosen afterwards, in its own organization's form.
        lambda lead: lead_services.lead_convert(
            lead=lead, actor=request.user, customer_type=customer_type
        ),
        done="{count} lead(s) converted into customers.",
    )
    return None


#: The selector that reads each exportable model (its `export_rows`, as the API's export).
EXPORT_SELECTORS: dict[type[Model], ResourceSelector] = {
    Customer: CustomerSelector(),
    Lead: LeadSelector(),
    Deal: DealSelector(),
}


@admin.action(description="Export selected as CSV", permissions=["view"])
def export_csv(model_admin, request, queryset):
    """The selected rows as the API's `export_csv` writes them: every column, formula cells
    neutralised, streamed."""
    model = model_admin.model
    header, rows = EXPORT_SELECTORS[model].export_rows(
        queryset.order_by("pk"), limit=settings.EXPORT_MAX_ROWS
    )
    return csv_download(header, rows, filename=f"{model._meta.model_name}_export.csv")


ORGANIZATION_PARAMETER = "organization__id__exact"


class WithinOrganizationFilter(admin.SimpleListFilter):
    """A filter on a related record (pipeline, stage, assignee) whose choices are the records of
    the organization the list is narrowed to: offered once an organization is chosen in the
    organization filter, so it never lists every tenant's stages or staff at once."""

    #: The filtered model's field and the related model; set by `within_organization`.
    field: str
    related: type[Model]
    organization_parameter = ORGANIZATION_PARAMETER
    max_choices = 500

    def lookups(self, request, model_admin):
        organization_id = _positive_int(request.GET.get(self.organization_parameter))
        if organization_id is None:
            return ()
        rows = self.related._default_manager.filter(
            **tenant_filter(self.related, [organization_id])
        ).order_by("pk")[: self.max_choices]
        return [(row.pk, str(row)) for row in rows]

    def queryset(self, request, queryset):
        value = _positive_int(self.value())
        if value is None:
            return queryset
        return queryset.filter(**{f"{self.field}_id": value})


def within_organization(field: str, related: type[Model], title: str):
    """A `WithinOrganizationFilter` on `field` (a foreign key to `related`)."""
    return type(
        f"{field.title().replace('_', '')}Filter",
        (WithinOrganizationFilter,),
        {"field": field, "related": related, "title": title, "parameter_name": field},
    )


def _positive_int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
