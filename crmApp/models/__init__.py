from crmApp.models.activities import Activity
from crmApp.models.attachments import ATTACHMENT_PARENTS, Attachment
from crmApp.models.audit import AuditEvent
from crmApp.models.base import CodeSequence, next_codes
from crmApp.models.customers import Customer
from crmApp.models.deals import (
    Deal,
    DealStageHistory,
    OpenStayTally,
    StageEntryTally,
    StayTally,
)
from crmApp.models.employees import Employee
from crmApp.models.events import Event, EventDelivery
from crmApp.models.imports import ImportChunk, ImportJob, ImportRowError
from crmApp.models.invitations import Invitation
from crmApp.models.leads import Lead
from crmApp.models.organizations import Organization, UserOrganization
from crmApp.models.pipelines import Pipeline, PipelineStage
from crmApp.models.rbac import Permission, Role, RolePermission, UserRole
from crmApp.models.users import EmailVerificationToken, PasswordResetToken, User, UserSession
from crmApp.models.vendors import Vendor
from crmApp.models.webhooks import IdempotencyKey, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Activity",
    "AuditEvent",
    "ATTACHMENT_PARENTS",
    "Attachment",
    "CodeSequence",
    "Customer",
    "Deal",
    "DealStageHistory",
    "OpenStayTally",
    "StageEntryTally",
    "StayTally",
    "EmailVerificationToken",
    "Employee",
    "Event",
    "EventDelivery",
    "Invitation",
    "IdempotencyKey",
    "ImportChunk",
    "ImportJob",
    "ImportRowError",
    "Lead",
    "Organization",
    "PasswordResetToken",
    "Permission",
    "Pipeline",
    "PipelineStage",
    "Role",
    "RolePermission",
    "User",
    "UserOrganization",
    "UserRole",
    "UserSession",
    "Vendor",
    "WebhookDelivery",
    "WebhookEndpoint",
    "next_codes",
]
