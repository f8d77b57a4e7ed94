from django.urls import path
from rest_framework.routers import DefaultRouter

from crmApp.viewsets import (
    activities,
    attachments,
    audit,
    auth,
    customers,
    deals,
    employees,
    events,
    imports,
    invitations,
    leads,
    organizations,
    pipelines,
    rbac,
    reports,
    vendors,
    webhooks,
)
from crmApp.viewsets.health import HealthView, LiveView, ReadyView

router = DefaultRouter()
router.register("users", auth.UserViewSet, basename="user")
router.register("auth/refresh-tokens", auth.SessionViewSet, basename="refresh-token")
router.register("organizations", organizations.OrganizationViewSet, basename="organization")
router.register("user-organizations", organizations.MembershipViewSet, basename="user-organization")
router.register("permissions", rbac.PermissionViewSet, basename="permission")
router.register("roles", rbac.RoleViewSet, basename="role")
router.register("user-roles", rbac.UserRoleViewSet, basename="user-role")
router.register("employees", employees.EmployeeViewSet, basename="employee")
router.register("vendors", vendors.VendorViewSet, basename="vendor")
router.register("customers", customers.CustomerViewSet, basename="customer")
router.register("leads", leads.LeadViewSet, basename="lead")
router.register("pipelines", pipelines.PipelineViewSet, basename="pipeline")
router.register("pipeline-stages", pipelines.PipelineStageViewSet, basename="pipeline-stage")
router.register("deals", deals.DealViewSet, basename="deal")
router.register("events", events.EventViewSet, basename="event")
router.register("activities", activities.ActivityViewSet, basename="activity")
router.register("audit-events", audit.AuditEventViewSet, basename="audit-event")
router.register("invitations", invitations.InvitationViewSet, basename="invitation")
router.register("webhooks", webhooks.WebhookEndpointViewSet, basename="webhook")
router.register("webhook-deliveries", webhooks.WebhookDeliveryViewSet, basename="webhook-delivery")
router.register("attachments", attachments.AttachmentViewSet, basename="attachment")
router.register("imports", imports.ImportJobViewSet, basename="import")

urlpatterns = [
    path("health/", HealthView.as_view(), name="health"),
    path("health/live/", LiveView.as_view(), name="health-live"),
    path("health/ready/", ReadyView.as_view(), name="health-ready"),
    path("auth/login/", auth.LoginView.as_view(), name="login"),
    path("auth/logout/", auth.LogoutView.as_view(), name="logout"),
    path("auth/refresh/", auth.RefreshView.as_view(), name="token-refresh"),
    path("auth/token/refresh/", auth.RefreshView.as_view(), name="token-refresh-alias"),
    path("auth/change-password/", auth.ChangePasswordView.as_view(), name="change-password"),
    path("auth/verify-email/", auth.VerifyEmailView.as_view(), name="verify-email"),
    path(
        "auth/verify-email/resend/",
        auth.VerifyEmailResendView.as_view(),
        name="verify-email-resend",
    ),
    path("auth/password-reset/", auth.PasswordResetView.as_view(), name="password-reset"),
    path(
        "auth/password-reset/confirm/",
        auth.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    # Before the router's `invitations/<pk>/`, which would otherwise take "accept" as an id.
    path(
        "invitations/accept/", invitations.InvitationAcceptView.as_view(), name="invitation-accept"
    ),
    *reports.report_urls(),
    *router.urls,
]
