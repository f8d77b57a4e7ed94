"""The Django admin as a back-office: useful columns, filters and search per model, related
records by autocomplete, computed and lifecycle fields read-only, and every form refusing a
reference to another organization's rows (`TenantAdminForm`)."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models as db_models

from crmApp import models
from crmApp.admin_actions import (
    convert_leads,
    export_csv,
    mark_lost,
    mark_won,
    within_organization,
)
from crmApp.models.base import organization_id_of
from crmApp.services.audit import audit_values
from crmApp.services.deals import OPEN_STATUSES
from crmApp.services.records import record_delete, record_save, records_delete


@admin.register(models.User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("id",)
    list_display = ("id", "email", "username", "is_active", "is_staff", "created_at")
    search_fields = ("email", "username", "first_name", "last_name")
    list_filter = ("is_active", "is_staff", "is_superuser", "is_verified")
    readonly_fields = (
        "last_login",
        "last_login_at",
        "created_at",
        "updated_at",
        "password_changed_at",
    )
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "phone")}),
        (
            "Status",
            {
                "fields": (
                    "is_active",
                    "is_verified",
                    "is_staff",
                    "is_superuser",
                    "two_factor_enabled",
                )
            },
        ),
        ("Permissions", {"fields": ("groups", "user_permissions")}),
        (
            "Dates",
            {
                "fields": (
                    "last_login",
                    "last_login_at",
                    "password_changed_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),
    )


#: Bare domains typed into URL fields become https:// addresses (Django 6's default).
HTTPS_URLS = {db_models.URLField: {"assume_scheme": "https"}}

FOREIGN_RECORD = "Select a record of this record's own organization (%(organization)s)."
NOT_A_MEMBER = "Select a user who is a member of this record's organization (%(organization)s)."

#: User references that define the membership itself rather than point at a member.
MEMBERSHIP_FIELDS = {(models.UserOrganization, "user")}


class TenantAdminForm(forms.ModelForm):
    """Refuses a record pointing at another organization's rows.

    The API's serializers check every related id against the record's organization; a staff
    member editing through the admin gets the same rule here, once for every model: the
    record's organization is read along its model's `TENANT_PATH` (after the form's values are
    applied, so a changed `organization` or `pipeline` counts), and every foreign key to a
    tenant model must lead to that organization along the related model's own `TENANT_PATH`.
    A user (a global account) must be a member of the organization.
    """

    def _post_clean(self):
        super()._post_clean()
        organization_id = self._record_organization_id()
        if organization_id is None:
            return
        for field in type(self.instance)._meta.concrete_fields:
            related = self.cleaned_data.get(field.name) if field.is_relation else None
            if related is None or field.name == "organization":
                continue
            message = self._foreign(field, related, organization_id)
            if message is not None:
                self.add_error(field.name, self._refusal(message, organization_id))

    def _record_organization_id(self) -> int | None:
        if not hasattr(type(self.instance), "TENANT_PATH"):
            return None
        try:
            return organization_id_of(self.instance)
        except ObjectDoesNotExist:  # a required parent is missing: already a field error
            return None

    def _foreign(self, field, related, organization_id: int) -> str | None:
        """The refusal for `related` in `field`, or None when it belongs to the organization."""
        related_model = field.related_model
        if related_model is models.User:
            if (type(self.instance), field.name) in MEMBERSHIP_FIELDS:
                return None
            member = models.UserOrganization.objects.filter(
                user=related, organization_id=organization_id
            ).exists()
            return None if member else NOT_A_MEMBER
        if not hasattr(related_model, "TENANT_PATH") or related_model is models.Organization:
            return None
        return None if organization_id_of(related) == organization_id else FOREIGN_RECORD

    @staticmethod
    def _refusal(message: str, organization_id: int) -> ValidationError:
        name = (
            models.Organization.objects.filter(pk=organization_id)
            .values_list("name", flat=True)
            .first()
        )
        return ValidationError(message, code="foreign", params={"organization": name})


class TenantAdmin(admin.ModelAdmin):
    """Admin of a tenant-owned model: the tenant form, related records by autocomplete, and
    the organization as a list filter."""

    form = TenantAdminForm
    formfield_overrides = HTTPS_URLS
    list_filter: tuple = ("organization",)
    list_select_related: tuple | bool = ("organization",)
    ordering = ("-id",)
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over a large table on every page

    def get_readonly_fields(self, request, obj=None):
        """A saved record keeps its organization (its first step along `TENANT_PATH`: the
        organization, a stage's pipeline, a grant's role), as through the API: other rows of
        that organization may point at it, and moving it would make those links cross-tenant."""
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        owner_field = type(obj).TENANT_PATH.split("__")[0].removesuffix("_id")
        return fields if owner_field in fields else (*fields, owner_field)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # The form changes the instance in place before `save_model`: keep what it held,
            # so the audit row records the fields the staff member changed.
            obj._admin_before = audit_values(obj)
        return obj

    def save_model(self, request, obj, form, change):
        """Saved through the records service, so the resource's `created`/`updated` event and
        the audit row name the staff member, as when the API writes."""
        before = getattr(obj, "_admin_before", None) or audit_values(obj) if change else None
        record_save(obj, actor=request.user, before=before)

    def delete_model(self, request, obj):
        """Deleted through the records service, so a resource's `deleted` event is recorded
        (naming the staff member) as when the API deletes it."""
        record_delete(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        records_delete(
            self.model, ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )


class OrganizationOwnedAdmin(TenantAdmin):
    """A model with an `organization` column and a generic list."""

    autocomplete_fields: tuple = ("organization",)

    def get_list_display(self, request):
        if self.list_display != ("__str__",):
            return self.list_display
        return ("id", "__str__", "organization", "created_at")


TIMESTAMPS = ("created_at", "updated_at")


@admin.register(models.Organization)
class OrganizationAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URLS
    list_display = ("id", "name", "slug", "is_active", "subscription_plan", "created_at")
    search_fields = ("name", "slug")
    list_filter = ("is_active", "subscription_plan")
    readonly_fields = TIMESTAMPS


@admin.register(models.UserOrganization)
class MembershipAdmin(OrganizationOwnedAdmin):
    list_display = ("id", "user", "organization", "is_owner", "is_active", "joined_at")
    list_filter = ("organization", "is_owner", "is_active")
    list_select_related = ("user", "organization")
    search_fields = ("user__email", "user__username", "organization__name")
    autocomplete_fields = ("user", "organization", "invited_by")
    readonly_fields = ("joined_at", *TIMESTAMPS)


@admin.register(models.Role)
class RoleAdmin(OrganizationOwnedAdmin):
    list_display = ("id", "name", "slug", "organization", "is_system_role", "is_active")
    list_filter = ("organization", "is_system_role", "is_active")
    search_fields = ("name", "slug")
    readonly_fields = TIMESTAMPS


@admin.register(models.Permission)
class PermissionAdmin(OrganizationOwnedAdmin):
    list_display = ("id", "resource", "action", "organization", "is_system_permission")
    list_filter = ("organization", "resource", "action")
    search_fields = ("resource", "action")
    readonly_fields = TIMESTAMPS


@admin.register(models.RolePermission)
class RolePermissionAdmin(TenantAdmin):
    list_display = ("id", "role", "permission", "created_at")
    list_filter = ("role__organization",)
    list_select_related = ("role", "permission")
    search_fields = ("role__name", "permission__resource", "permission__action")
    autocomplete_fields = ("role", "permission")
    readonly_fields = TIMESTAMPS


@admin.register(models.UserRole)
class UserRoleAdmin(OrganizationOwnedAdmin):
    list_display = ("id", "user", "role", "organization", "is_active", "assigned_at")
    list_filter = ("organization", "is_active")
    list_select_related = ("user", "role", "organization")
    search_fields = ("user__email", "role__name")
    autocomplete_fields = ("user", "role", "organization", "assigned_by")
    readonly_fields = ("assigned_at", *TIMESTAMPS)


@admin.register(models.UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "is_revoked", "ip_address", "expires_at", "created_at")
    list_filter = ("is_revoked",)
    list_select_related = ("user",)
    ordering = ("-id",)
    show_full_result_count = False
    search_fields = ("user__email", "ip_address")
    autocomplete_fields = ("user",)
    readonly_fields = ("refresh_jti", *TIMESTAMPS)


class AccountTokenAdmin(admin.ModelAdmin):
    """A mailed link's row: which account, until when, whether it was spent. The stored token
    is a hash and the lifecycle belongs to the account services, so both are read-only."""

    list_display = ("id", "user", "expires_at", "is_used", "used_at", "created_at")
    list_filter = ("is_used",)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    autocomplete_fields = ("user",)
    readonly_fields = ("token", "is_used", "used_at", *TIMESTAMPS)
    ordering = ("-id",)


admin.site.register(models.PasswordResetToken, AccountTokenAdmin)
admin.site.register(models.EmailVerificationToken, AccountTokenAdmin)


@admin.register(models.Invitation)
class InvitationAdmin(OrganizationOwnedAdmin):
    list_display = ("id", "email", "organization", "role", "status", "expires_at", "created_at")
    list_filter = ("organization", "status")
    list_select_related = ("organization", "role")
    search_fields = ("email", "organization__name")
    autocomplete_fields = ("organization", "role", "invited_by", "accepted_by")
    # Accepting and revoking belong to the invitation services (membership, events, mail).
    readonly_fields = (
        "token_hash",
        "status",
        "accepted_at",
        "accepted_by",
        "revoked_at",
        *TIMESTAMPS,
    )


@admin.register(models.CodeSequence)
class CodeSequenceAdmin(OrganizationOwnedAdmin):
    list_display = ("id", "organization", "prefix", "last_value")
    search_fields = ("prefix", "organization__name")
    readonly_fields = ("last_value",)


@admin.register(models.Employee)
class EmployeeAdmin(OrganizationOwnedAdmin):
    list_display = (
        "code",
        "__str__",
        "organization",
        "job_title",
        "department",
        "status",
        "manager",
        "hire_date",
        "created_at",
    )
    list_filter = ("organization", "status", "employment_type", "department")
    list_select_related = ("organization", "manager")
    search_fields = ("first_name", "last_name", "email", "code")
    autocomplete_fields = ("organization", "user", "manager")
    readonly_fields = ("code", *TIMESTAMPS)


@admin.register(models.Vendor)
class VendorAdmin(OrganizationOwnedAdmin):
    list_display = ("code", "name", "organization", "vendor_type", "status", "created_at")
    list_filter = ("organization", "status", "vendor_type")
    search_fields = ("name", "email", "code")
    readonly_fields = ("code", *TIMESTAMPS)


#: Filters by a related record of the organization the list is narrowed to.
ASSIGNEE_FILTER = within_organization("assigned_to", models.Employee, "assignee")
PIPELINE_FILTER = within_organization("pipeline", models.Pipeline, "pipeline")
STAGE_FILTER = within_organization("stage", models.PipelineStage, "stage")


@admin.register(models.Customer)
class CustomerAdmin(OrganizationOwnedAdmin):
    list_display = (
        "code",
        "name",
        "company_name",
        "organization",
        "customer_type",
        "status",
        "assigned_to",
        "created_at",
    )
    list_filter = ("organization", "status", "customer_type", "source", ASSIGNEE_FILTER)
    list_select_related = ("organization", "assigned_to")
    actions = (export_csv,)
    search_fields = ("name", "email", "company_name", "code")
    date_hierarchy = "created_at"
    autocomplete_fields = ("organization", "assigned_to")
    readonly_fields = ("code", "converted_from_lead", "converted_at", *TIMESTAMPS)


@admin.register(models.Lead)
class LeadAdmin(OrganizationOwnedAdmin):
    list_display = (
        "code",
        "name",
        "company",
        "organization",
        "qualification_status",
        "source",
        "lead_score",
        "assigned_to",
        "is_converted",
        "created_at",
    )
    list_filter = (
        "organization",
        "qualification_status",
        "source",
        "status",
        "is_converted",
        ASSIGNEE_FILTER,
    )
    list_select_related = ("organization", "assigned_to")
    actions = (convert_leads, export_csv)
    search_fields = ("name", "email", "company", "code")
    date_hierarchy = "created_at"
    autocomplete_fields = ("organization", "assigned_to")
    readonly_fields = ("code", "is_converted", "converted_at", "converted_by", *TIMESTAMPS)


@admin.register(models.Pipeline)
class PipelineAdmin(OrganizationOwnedAdmin):
    list_display = ("code", "name", "organization", "is_default", "is_active", "created_at")
    list_filter = ("organization", "is_default", "is_active")
    search_fields = ("name", "code")
    readonly_fields = ("code", *TIMESTAMPS)


#: A stage's organization, as the admin's lookups spell it (read from the model, declared once).
STAGE_ORGANIZATION = models.PipelineStage.TENANT_PATH.removesuffix("_id")


@admin.register(models.PipelineStage)
class PipelineStageAdmin(TenantAdmin):
    list_display = (
        "name",
        "pipeline",
        "organization",
        "order",
        "probability",
        "is_closed_won",
        "is_closed_lost",
        "rotting_days",
    )
    list_filter = (STAGE_ORGANIZATION, "is_closed_won", "is_closed_lost", "is_active")
    list_select_related = (STAGE_ORGANIZATION,)
    search_fields = ("name", "pipeline__name")
    autocomplete_fields = ("pipeline",)
    ordering = ("pipeline", "order", "id")
    readonly_fields = TIMESTAMPS

    @admin.display(description="organization", ordering=STAGE_ORGANIZATION)
    def organization(self, obj):
        return obj.pipeline.organization


@admin.register(models.Deal)
class DealAdmin(OrganizationOwnedAdmin):
    list_display = (
        "code",
        "title",
        "organization",
        "customer",
        "pipeline",
        "stage",
        "value",
        "currency",
        "status",
        "is_won",
        "is_lost",
        "assigned_to",
        "expected_close_date",
        "created_at",
    )
    list_filter = (
        "organization",
        "status",
        "priority",
        "is_won",
        "is_lost",
        PIPELINE_FILTER,
        STAGE_FILTER,
        ASSIGNEE_FILTER,
    )
    list_select_related = ("organization", "customer", "pipeline", "stage", "assigned_to")
    actions = (mark_won, mark_lost, export_csv)
    search_fields = ("title", "code", "customer__name")
    date_hierarchy = "created_at"
    autocomplete_fields = ("organization", "customer", "lead", "pipeline", "stage", "assigned_to")
    # Outcomes change through the deal services' state machine (the actions above), the
    # revenue is computed.
    readonly_fields = (
        "code",
        "expected_revenue",
        "is_won",
        "is_lost",
        "actual_close_date",
        "lost_reason",
        *TIMESTAMPS,
    )

    def get_readonly_fields(self, request, obj=None):
        """A won or lost deal keeps its stage, odds and status until it is reopened (through
        the API), as `deal_update` demands."""
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and (obj.is_won or obj.is_lost):
            return (*fields, "stage", "probability", "status")
        return fields

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "status":  # "closed" only comes with winning or losing
            kwargs["choices"] = [c for c in models.Deal.Status.choices if c[0] in OPEN_STATUSES]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


@admin.register(models.Activity)
class ActivityAdmin(OrganizationOwnedAdmin):
    list_display = (
        "id",
        "type",
        "subject",
        "organization",
        "assignee",
        "due_at",
        "completed_at",
        "created_at",
    )
    list_filter = ("organization", "type")
    list_select_related = ("organization", "assignee")
    search_fields = ("subject", "body")
    date_hierarchy = "created_at"
    autocomplete_fields = ("organization", "assignee", "customer", "lead", "deal", "created_by")
    readonly_fields = TIMESTAMPS


@admin.register(models.DealStageHistory)
class DealStageHistoryAdmin(TenantAdmin):
    list_display = ("id", "deal", "stage", "outcome", "entered_at", "left_at", "actor")
    list_filter = ("organization", "outcome")
    list_select_related = ("deal", "stage", "actor")
    search_fields = ("deal__title", "deal__code", "stage__name")
    autocomplete_fields = ("deal", "stage", "actor", "organization")


class ReadOnlyAdmin(admin.ModelAdmin):
    """The outbox is written by services only; the admin shows it for inspection."""

    show_full_result_count = False  # these tables only grow

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.StageEntryTally)
class StageEntryTallyAdmin(ReadOnlyAdmin):
    """Derived from the stage history by the services (kept with every history write): shown,
    never edited, or it would stop being what the history says."""

    list_display = ("id", "organization", "stage", "day", "first_entries")
    list_filter = ("organization",)
    list_select_related = ("organization", "stage")
    search_fields = ("=stage__id", "stage__name")
    date_hierarchy = "day"
    ordering = ("-day", "stage")


@admin.register(models.Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "resource", "resource_id", "organization", "actor", "created_at")
    list_filter = ("organization", "type", "resource")
    list_select_related = ("organization", "actor")
    search_fields = ("=resource_id", "=request_id", "type")
    ordering = ("-id",)


@admin.register(models.EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "event", "consumer", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "consumer")
    list_select_related = ("event",)
    search_fields = ("=event__id", "last_error")
    ordering = ("-id",)


@admin.register(models.WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "url", "organization", "is_active", "consecutive_failures")
    list_filter = ("organization", "is_active")
    search_fields = ("url", "description")
    list_select_related = ("organization",)
    exclude = ("secret",)  # shown to clients once, never again
    formfield_overrides = HTTPS_URLS
    ordering = ("-id",)


@admin.register(models.WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "endpoint", "event_type", "status", "attempts", "response_code")
    list_filter = ("organization", "status", "event_type")
    list_select_related = ("endpoint",)
    search_fields = ("=event__id", "endpoint__url")
    raw_id_fields = ("endpoint", "event", "redelivery_of", "organization")
    ordering = ("-id",)


@admin.register(models.IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "key", "method", "path", "status_code", "created_at")
    list_filter = ("method",)
    list_select_related = ("user",)
    search_fields = ("=key", "user__email", "path")
    exclude = ("body",)  # a stored answer may hold any of the user's data
    raw_id_fields = ("user",)
    ordering = ("-id",)


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Written by the services in each write's transaction; nobody edits history."""

    list_display = ("id", "action", "resource", "record_id", "actor", "organization", "created_at")
    list_filter = ("resource", "action")
    list_select_related = ("organization", "actor")
    search_fields = ("request_id",)
    ordering = ("-id",)
    show_full_result_count = False


class ReadMostlyTenantAdmin(TenantAdmin):
    """Rows written by services with side effects the admin cannot take (stored files, queued
    work): shown, searchable, never added or edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.Attachment)
class AttachmentAdmin(ReadMostlyTenantAdmin):
    list_display = (
        "id",
        "name",
        "parent_type",
        "content_type",
        "size",
        "organization",
        "created_at",
    )
    list_filter = ("organization", "parent_type", "content_type")
    search_fields = ("name", "sha256")
    raw_id_fields = ("organization", "customer", "lead", "deal", "uploaded_by")

    def has_delete_permission(self, request, obj=None):
        return False  # through the API, which removes the stored file after the commit


@admin.register(models.ImportJob)
class ImportJobAdmin(ReadMostlyTenantAdmin):
    list_display = (
        "id",
        "resource",
        "mode",
        "dry_run",
        "status",
        "rows_total",
        "rows_created",
        "rows_updated",
        "rows_failed",
        "organization",
        "created_at",
    )
    list_filter = ("organization", "status", "resource", "mode")
    search_fields = ("file_name",)
    raw_id_fields = ("organization", "created_by")


@admin.register(models.ImportChunk)
class ImportChunkAdmin(ReadMostlyTenantAdmin):
    list_display = ("id", "job", "index", "first_row", "rows", "rows_done")
    list_filter = ("job__status", "job__resource")
    search_fields = ("job__file_name",)
    list_select_related = ("job",)
    raw_id_fields = ("job",)


@admin.register(models.ImportRowError)
class ImportRowErrorAdmin(ReadMostlyTenantAdmin):
    list_display = ("id", "job", "row_number", "reason")
    list_filter = ("job__resource",)
    search_fields = ("reason", "job__file_name")
    list_select_related = ("job",)
    raw_id_fields = ("job",)


@admin.register(models.StayTally)
class StayTallyAdmin(ReadOnlyAdmin):
    """Derived from the stage history and the deals' outcomes by the services: shown, never
    edited."""

    list_display = ("id", "organization", "stage", "deal_closed", "bucket", "stays")
    list_filter = ("organization", "deal_closed")
    list_select_related = ("organization", "stage")
    search_fields = ("=stage__id", "stage__name")


@admin.register(models.OpenStayTally)
class OpenStayTallyAdmin(ReadOnlyAdmin):
    """Derived from the stage history and the deals' outcomes by the services: shown, never
    edited."""

    list_display = ("id", "organization", "stage", "deal_closed", "day", "stays")
    list_filter = ("organization", "deal_closed")
    list_select_related = ("organization", "stage")
    search_fields = ("=stage__id", "stage__name")
