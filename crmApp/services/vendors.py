"""Vendor writes: create, update, delete."""

from typing import Any

from django.db import transaction

from crmApp.models import Organization, User, Vendor
from crmApp.services.records import record_create, record_delete, record_update


@transaction.atomic(savepoint=False)
def vendor_create(*, actor: User | None, organization: Organization, **fields: Any) -> Vendor:
    return record_create(Vendor, actor=actor, organization=organization, **fields)


@transaction.atomic(savepoint=False)
def vendor_update(*, vendor: Vendor, actor: User | None, **changes: Any) -> Vendor:
    return record_update(vendor, actor=actor, **changes)


@transaction.atomic(savepoint=False)
def vendor_delete(*, vendor: Vendor, actor: User | None) -> None:
    record_delete(vendor, actor=actor)
