"""Lead qualification and conversion into a customer, and lead figures."""

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from crmApp.models import Customer, Employee, Lead, User
from crmApp.models.base import ActiveStatus
from crmApp.services.events import event_record_for

ALREADY_CONVERTED = "Lead has already been converted."
CONVERTED_NOT_QUALIFIABLE = "A converted lead cannot be qualified or disqualified."
DISQUALIFIED_NOT_CONVERTIBLE = (
    "An unqualified or lost lead cannot be converted; change its qualification status first."
)

#: qualification_status values counted in the stats (`converted` and `lost` added to the four
#: of the reference, which are always present).
STATS_QUALIFICATIONS = ("new", "contacted", "qualified", "unqualified", "converted", "lost")


def _locked(lead: Lead) -> Lead:
    return Lead.objects.select_for_update().get(pk=lead.pk)


def _set_qualification(*, lead: Lead, qualification_status: str, event: str, actor) -> Lead:
    locked = _locked(lead)
    if locked.is_converted:
        raise ValidationError({"non_field_errors": [CONVERTED_NOT_QUALIFIABLE]})
    locked.qualification_status = qualification_status
    locked.save(update_fields=["qualification_status", "updated_at"])
    event_record_for(locked, event, actor=actor)
    return locked


@transaction.atomic
def lead_qualify(*, lead: Lead, actor: User | None = None) -> Lead:
    """Mark a lead qualified; refused once converted (the row is locked so a concurrent
    conversion cannot slip in between the check and the write) [B2]."""
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
    lead and gets the 400 [R2]. Customer creation and the lead update share one transaction
    [R1]; both carry the same `converted_at` [B1]. `assigned_to` must already be validated to
    belong to the lead's organization; `converted_by` is the actor's first employee record
    there (or null).
    """
    locked = _locked(lead)
    if locked.is_converted:
        raise ValidationError({"non_field_errors": [ALREADY_CONVERTED]})
    if locked.qualification_status in (
        Lead.QualificationStatus.UNQUALIFIED,
        Lead.QualificationStatus.LOST,
    ):
        raise ValidationError({"non_field_errors": [DISQUALIFIED_NOT_CONVERTIBLE]})
    now = timezone.now()
    customer = Customer.objects.create(
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
    event_record_for(locked, "lead.converted", actor=actor, extra={"customer_id": customer.pk})
    return customer


def lead_stats(*, queryset: QuerySet[Lead]) -> dict:
    """Counts over an already scoped queryset in ONE query: conditional counts per source
    (only sources present appear), summed here for the totals [B5, P2]. One GROUP BY instead of
    an aggregate plus a GROUP BY keeps the stats request within 3 queries (bench/README.md)."""
    rows = list(
        queryset.order_by()
        .values("source")
        .annotate(
            total=Count("id"),
            active=Count("id", filter=Q(status=ActiveStatus.ACTIVE)),
            converted=Count("id", filter=Q(is_converted=True)),
            unconverted=Count("id", filter=Q(is_converted=False)),
            **{
                f"q_{name}": Count("id", filter=Q(qualification_status=name))
                for name in STATS_QUALIFICATIONS
            },
        )
        .order_by("source")
    )

    def total(key: str) -> int:
        return sum(row[key] for row in rows)

    return {
        "total": total("total"),
        "active": total("active"),
        "converted": total("converted"),
        "unconverted": total("unconverted"),
        "by_qualification": {name: total(f"q_{name}") for name in STATS_QUALIFICATIONS},
        "by_source": {row["source"]: row["total"] for row in rows},
    }
