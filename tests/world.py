"""A populated organization: one row of every kind, for route-walking tests."""

from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.utils import timezone

from crmApp.models import (
    Activity,
    Attachment,
    AuditEvent,
    Customer,
    Deal,
    DealStageHistory,
    Employee,
    Event,
    ImportJob,
    Invitation,
    Lead,
    Organization,
    Permission,
    Pipeline,
    PipelineStage,
    Role,
    RolePermission,
    User,
    UserOrganization,
    UserRole,
    UserSession,
    Vendor,
    WebhookDelivery,
    WebhookEndpoint,
)
from crmApp.services.attachments import attachment_create
from crmApp.services.events import event_record_for
from tests.conftest import Member, make_member
from tests.files_support import PDF, upload


@dataclass
class World:
    organization: Organization
    owner: Member
    member: Member
    membership: UserOrganization
    employee: Employee
    manager: Employee
    vendor: Vendor
    customer: Customer
    lead: Lead
    pipeline: Pipeline
    stage: PipelineStage
    other_stage: PipelineStage
    deal: Deal
    permission: Permission
    role: Role
    user_role: UserRole
    session: UserSession
    event: Event
    invitation: Invitation
    webhook: WebhookEndpoint
    webhook_delivery: WebhookDelivery
    activity: Activity
    audit_event: AuditEvent
    attachment: Attachment
    import_job: ImportJob

    def object_for(self, basename: str):
        return {
            "user": self.member.user,
            "refresh-token": self.session,
            "organization": self.organization,
            "user-organization": self.membership,
            "permission": self.permission,
            "role": self.role,
            "user-role": self.user_role,
            "employee": self.employee,
            "vendor": self.vendor,
            "customer": self.customer,
            "lead": self.lead,
            "pipeline": self.pipeline,
            "pipeline-stage": self.stage,
            "deal": self.deal,
            "report": None,  # reports are collection routes only
            "event": self.event,
            "invitation": self.invitation,
            "webhook": self.webhook,
            "webhook-delivery": self.webhook_delivery,
            "activity": self.activity,
            "audit-event": self.audit_event,
            "attachment": self.attachment,
            "import": self.import_job,
        }[basename]


def build_world(organization: Organization, *, marker: str, owner: Member | None = None) -> World:
    """Populate `organization`; every text a client could see carries `marker`."""
    owner = owner or make_member(organization, owner=True)
    member = make_member(organization, role="viewer")
    manager = Employee.objects.create(
        organization=organization,
        first_name=f"Boss {marker}",
        last_name="One",
        email=f"boss.{marker}@example.com",
        department=f"Dept {marker}",
    )
    employee = Employee.objects.create(
        organization=organization,
        first_name=f"Emp {marker}",
        last_name="Two",
        email=f"emp.{marker}@example.com",
        department=f"Dept {marker}",
        manager=manager,
        user=member.user,
    )
    vendor = Vendor.objects.create(
        organization=organization, name=f"Vendor {marker}", email=f"v.{marker}@example.com"
    )
    customer = Customer.objects.create(
        organization=organization,
        name=f"Customer {marker}",
        email=f"c.{marker}@example.com",
        assigned_to=employee,
        external_id=f"ext-{marker}",
    )
    lead = Lead.objects.create(
        organization=organization,
        name=f"Lead {marker}",
        email=f"l.{marker}@example.com",
        assigned_to=employee,
        external_id=f"ext-{marker}",
    )
    pipeline = Pipeline.objects.create(organization=organization, name=f"Pipe {marker}")
    stage = PipelineStage.objects.create(
        pipeline=pipeline, name=f"Stage {marker}", order=0, probability=20
    )
    other_stage = PipelineStage.objects.create(
        pipeline=pipeline, name=f"Later {marker}", order=1, probability=60
    )
    deal = Deal.objects.create(
        organization=organization,
        title=f"Deal {marker}",
        customer=customer,
        pipeline=pipeline,
        stage=stage,
        assigned_to=employee,
        value=1000,
        probability=20,
        external_id=f"ext-{marker}",
    )
    # What the deal services would have recorded for a deal created in `stage`.
    DealStageHistory.objects.create(
        organization=organization, deal=deal, stage=stage, entered_at=deal.created_at
    )
    permission = Permission.objects.get(
        organization=organization, resource="customers", action="view"
    )
    role = Role.objects.create(organization=organization, name=f"Role {marker}", slug=marker)
    RolePermission.objects.create(role=role, permission=permission)
    user_role = UserRole.objects.create(user=member.user, role=role, organization=organization)
    event = event_record_for(customer, "customer.created", actor=owner.user)
    invitation = Invitation.objects.create(
        organization=organization,
        email=f"invitee.{marker}@example.com",
        role=role,
        invited_by=owner.user,
        expires_at=timezone.now() + timedelta(days=7),
    )
    # A public address literal: creating it needs no DNS, and nothing is sent in these tests
    # (the test transaction never commits, so no delivery task runs).
    webhook = WebhookEndpoint.objects.create(
        organization=organization,
        url=f"https://93.184.215.14/hooks/{marker}",
        description=f"Hook {marker}",
        secret=f"whsec_{marker}",
    )
    webhook_delivery = WebhookDelivery.objects.create(
        organization=organization,
        endpoint=webhook,
        event=event,
        event_type=event.type,
        payload={"id": event.pk, "type": event.type},
    )
    activity = Activity.objects.create(
        organization=organization,
        type=Activity.Type.TASK,
        subject=f"Call {marker}",
        body=f"Body {marker}",
        customer=customer,
        assignee=employee,
        due_at=timezone.now() + timedelta(days=1),
    )
    attachment = attachment_create(
        parent=customer,
        file=upload(PDF, f"{marker}.pdf"),
        size=len(PDF),
        name=f"Offer {marker}.pdf",
        content_type="application/pdf",
        actor=owner.user,
    )
    # A pending job (no worker runs in these tests): readable, cancellable, no errors yet.
    import_job = ImportJob.objects.create(
        organization=organization,
        created_by=owner.user,
        resource=ImportJob.Resource.LEADS,
        file_name=f"leads-{marker}.csv",
        blob_name="",
        encoding="utf-8",
        delimiter=",",
        mapping={"name": "name", "email": "email"},
        columns=["name", "email"],
    )
    return World(
        organization=organization,
        owner=owner,
        member=member,
        membership=UserOrganization.objects.get(user=member.user, organization=organization),
        employee=employee,
        manager=manager,
        vendor=vendor,
        customer=customer,
        lead=lead,
        pipeline=pipeline,
        stage=stage,
        other_stage=other_stage,
        deal=deal,
        permission=permission,
        role=role,
        user_role=user_role,
        session=UserSession.objects.filter(user=owner.user).first(),
        event=event,
        invitation=invitation,
        webhook=webhook,
        webhook_delivery=webhook_delivery,
        activity=activity,
        # the customer's event above was audited with it
        audit_event=AuditEvent.objects.get(
            organization=organization, resource="customer", record_id=customer.pk
        ),
        attachment=attachment,
        import_job=import_job,
    )


def database_snapshot() -> dict:
    """Every row of the project's tables (and the token blacklist), for "nothing changed"."""
    snapshot = {}
    for model in apps.get_app_config("crmApp").get_models():
        snapshot[model._meta.label] = list(model.objects.order_by("pk").values())
    for label in ("token_blacklist.BlacklistedToken",):
        model = apps.get_model(label)
        snapshot[label] = list(model.objects.order_by("pk").values())
    return snapshot


__all__ = ["World", "build_world", "database_snapshot", "User"]
