from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models as db_models

from crmApp import models


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


class OrganizationOwnedAdmin(admin.ModelAdmin):
    """Admin list for a tenant-owned model: filter by organization, foreign keys as raw ids."""

    formfield_overrides = HTTPS_URLS
    list_filter: tuple = ("organization",)
    list_select_related = ("organization",)
    ordering = ("-id",)

    def get_list_display(self, request):
        return ("id", "__str__", "organization", "created_at")


@admin.register(models.Organization)
class OrganizationAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URLS
    list_display = ("id", "name", "slug", "is_active", "subscription_plan", "created_at")
    search_fields = ("name", "slug")
    list_filter = ("is_active", "subscription_plan")
    readonly_fields = ("created_at", "updated_at")


@admin.register(models.UserOrganization)
class MembershipAdmin(OrganizationOwnedAdmin):
    list_display = ("id", "user", "organization", "is_owner", "is_active", "joined_at")
    list_select_related = ("user", "organization")
    raw_id_fields = ("user", "organization", "invited_by")

    def get_list_display(self, request):
        return self.list_display


@admin.register(models.Role)
class RoleAdmin(OrganizationOwnedAdmin):
    search_fields = ("name", "slug")


@admin.register(models.Permission)
class PermissionAdmin(OrganizationOwnedAdmin):
    list_filter = ("organization", "resource", "action")


@admin.register(models.RolePermission)
class RolePermissionAdmin(admin.ModelAdmin):
    list_display = ("id", "role", "permission")
    list_select_related = ("role", "permission")
    raw_id_fields = ("role", "permission")


@admin.register(models.UserRole)
class UserRoleAdmin(OrganizationOwnedAdmin):
    raw_id_fields = ("user", "role", "organization", "assigned_by")


@admin.register(models.UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "is_revoked", "ip_address", "expires_at", "created_at")
    list_filter = ("is_revoked",)
    raw_id_fields = ("user",)
    readonly_fields = ("refresh_jti",)


admin.site.register(models.PasswordResetToken, raw_id_fields=("user",))
admin.site.register(models.EmailVerificationToken, raw_id_fields=("user",))


@admin.register(models.CodeSequence)
class CodeSequenceAdmin(OrganizationOwnedAdmin):
    def get_list_display(self, request):
        return ("id", "organization", "prefix", "last_value")


@admin.register(models.Employee)
class EmployeeAdmin(OrganizationOwnedAdmin):
    search_fields = ("first_name", "last_name", "email", "code")
    raw_id_fields = ("organization", "user", "manager")


@admin.register(models.Vendor)
class VendorAdmin(OrganizationOwnedAdmin):
    search_fields = ("name", "email", "code")
    raw_id_fields = ("organization",)


@admin.register(models.Customer)
class CustomerAdmin(OrganizationOwnedAdmin):
    search_fields = ("name", "email", "company_name", "code")
    list_filter = ("organization", "status", "customer_type")
    raw_id_fields = ("organization", "assigned_to", "converted_from_lead")


@admin.register(models.Lead)
class LeadAdmin(OrganizationOwnedAdmin):
    search_fields = ("name", "email", "company", "code")
    list_filter = ("organization", "qualification_status", "source", "is_converted")
    raw_id_fields = ("organization", "assigned_to", "converted_by")


@admin.register(models.Pipeline)
class PipelineAdmin(OrganizationOwnedAdmin):
    search_fields = ("name", "code")
    raw_id_fields = ("organization",)


@admin.register(models.PipelineStage)
class PipelineStageAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "pipeline", "order", "probability")
    list_select_related = ("pipeline",)
    raw_id_fields = ("pipeline",)


@admin.register(models.Deal)
class DealAdmin(OrganizationOwnedAdmin):
    search_fields = ("title", "code")
    list_filter = ("organization", "status", "priority", "is_won", "is_lost")
    raw_id_fields = ("organization", "customer", "lead", "pipeline", "stage", "assigned_to")


@admin.register(models.DealStageHistory)
class DealStageHistoryAdmin(admin.ModelAdmin):
    list_display = ("id", "deal", "stage", "outcome", "entered_at", "left_at", "actor")
    list_filter = ("organization", "outcome")
    list_select_related = ("deal", "stage", "actor")
    raw_id_fields = ("deal", "stage", "actor", "organization")


class ReadOnlyAdmin(admin.ModelAdmin):
    """The outbox is written by services only; the admin shows it for inspection."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "resource", "resource_id", "organization", "created_at")
    list_filter = ("type", "resource")
    list_select_related = ("organization",)
    ordering = ("-id",)


@admin.register(models.EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "event", "consumer", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "consumer")
    ordering = ("-id",)


@admin.register(models.WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "url", "organization", "is_active", "consecutive_failures")
    list_filter = ("is_active",)
    list_select_related = ("organization",)
    exclude = ("secret",)  # shown to clients once, never again
    formfield_overrides = HTTPS_URLS
    ordering = ("-id",)


@admin.register(models.WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "endpoint", "event_type", "status", "attempts", "response_code")
    list_filter = ("status",)
    raw_id_fields = ("endpoint", "event", "redelivery_of", "organization")
    ordering = ("-id",)


@admin.register(models.IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "key", "method", "path", "status_code", "created_at")
    exclude = ("body",)  # a stored answer may hold any of the user's data
    raw_id_fields = ("user",)
    ordering = ("-id",)
