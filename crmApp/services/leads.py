"""Lead writes: create, update, delete, qualification and conversion into a customer."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from crmApp.errors import InvalidInput
from crmApp.models import Activity, Customer, Employee, Lead, Organization, User
from crmApp.models.base import ActiveStatus
from crmApp.services.audit import audit_values
from crmApp.services.events import event_record_for
from crmApp.services.records import record_create, record_delete, record_update, records_delete

ALREADY_CONVERTED = "Lead has already been converted."
CONVERTED_NOT_QUALIFIABLE = "A converted lead cannot be qualified or disqualified."
DISQUALIFIED_NOT_CONVERTIBLE = (
    "An unqualified or lost lead cannot be converted; change its qualification status first."
)


def _locked(lead: Lead) -> Lead:
    return Lead.objects.select_for_update().get(pk=lead.pk)


def _set_qualification(*, lead: Lead, qualification_status: str, event: str, actor) -> Lead:
    locked = _locked(lead)
    if locked.is_converted:
        raise InvalidInput({"non_field_errors": [CONVERTED_NOT_QUALIFIABLE]})
    before = audit_values(locked)
    locked.qualification_status = qualification_status
    locked.save(update_fields=["qualification_status", "updated_at"])
    event_record_for(locked, event, actor=actor, before=before)
    return locked


@transaction.atomic
def lead_qualify(*, lead: Lead, actor: User | None = None) -> Lead:
    """Mark a lead qualified; refused once converted (the row is locked so a concurrent
    conversion cannot slip in between the check and the write)."""
    return _set_qualification(
        lead=lead,
        qualification_status=Lead.QualificationStatus.QUALIFIED,
        event="lead.qualified",
        actor=actor,
    )


@transaction.atomic
def lead_disqualify(*, lead: Lead, actor: User | None = None) -> Lead:
    """Mark a lead unqualified; refused once converted, under the same row lock as qualify."""
    return _set_qualification(
        lead=lead,
        qualification_status=Lead.QualificationStatus.UNQUALIFIED,
        event="lead.disqualified",
        actor=actor,
    )


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    actor: User,
    customer_type: str = Customer.CustomerType.BUSINESS,
    assigned_to: Employee | None = None,
) -> Customer:
    """Turn a lead into a new customer of the same organization, exactly once.

    The lead row is locked (`SELECT ... FOR UPDATE`) before `is_converted` is checked, so of two
    concurrent conversions one creates the customer and the other waits, then sees the converted
    lead and gets the 400. Customer creation and the lead update share one transaction and carry
    the same `converted_at`. `assigned_to` must already be validated to belong to the lead's
    organization; `converted_by` is the actor's first employee record there (or null).
    """
    locked = _locked(lead)
    if locked.is_converted:
        raise InvalidInput({"non_field_errors": [ALREADY_CONVERTED]})
    if locked.qualification_status in (
        Lead.QualificationStatus.UNQUALIFIED,
        Lead.QualificationStatus.LOST,
    ):
        raise InvalidInput({"non_field_errors": [DISQUALIFIED_NOT_CONVERTIBLE]})
    now = timezone.now()
    before = audit_values(locked)
    customer = record_create(
        Customer,
        actor=actor,
        organization_id=locked.organization_id,
        name=locked.name,
        company_name=locked.company,
        email=locked.email,
        phone=locked.phone,
        source=locked.source,
        address=locked.address,
        city=locked.city,
        state=locked.state,
        postal_code=locked.postal_code,
        country=locked.country,
        notes=locked.notes,
        customer_type=customer_type,
        status=ActiveStatus.ACTIVE,
        assigned_to=assigned_to,
        converted_from_lead=locked,
        converted_at=now,
    )
    locked.is_converted = True
    locked.converted_at = now
    locked.converted_by = (
        Employee.objects.filter(organization_id=locked.organization_id, user=actor)
        .order_by("id")
        .first()
    )
    locked.qualification_status = Lead.QualificationStatus.CONVERTED
    locked.save(
        update_fields=[
            "is_converted",
            "converted_at",
            "converted_by",
            "qualification_status",
            "updated_at",
        ]
    )
    # The lead's history of work follows it to the customer (one UPDATE).
    Activity.objects.filter(lead=locked).update(lead=None, customer=customer, updated_at=now)
    event_record_for(
        locked,
        "lead.converted",
        actor=actor,
        extra={"customer_id": customer.pk},
        before=before,
    )
    return customer


@transaction.atomic(savepoint=False)
def lead_create(*, actor: User | None, organization: Organization, **fields: Any) -> Lead:
    return record_create(Lead, actor=actor, organization=organization, **fields)


@transaction.atomic(savepoint=False)
def lead_update(*, lead: Lead, actor: User | None, **changes: Any) -> Lead:
    return record_update(lead, actor=actor, **changes)


@transaction.atomic(savepoint=False)
def lead_delete(*, lead: Lead, actor: User | None) -> None:
    record_delete(lead, actor=actor)


@transaction.atomic(savepoint=False)
def lead_delete_many(*, ids: list[int], actor: User | None) -> int:
    """Delete the leads with `ids` (already checked to be visible and deletable)."""
    return records_delete(Lead, ids=ids, actor=actor)
