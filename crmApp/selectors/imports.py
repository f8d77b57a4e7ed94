"""Import job reads, and the existing rows an upsert batch matches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator

from django.db.models import Model
from django.db.models.functions import Lower

from crmApp.models import ImportJob, ImportRowError
from crmApp.selectors.base import ResourceSelector


class ImportJobSelector(ResourceSelector):
    model = ImportJob


def import_errors(job: ImportJob) -> Iterator[tuple[int, str, dict]]:
    """The job's refused rows in file order (row number, reason, cells), streamed."""
    rows = ImportRowError.objects.filter(job=job).order_by("row_number", "id")
    return rows.values_list("row_number", "reason", "values").iterator(chunk_size=2000)


def import_matches(
    model: type[Model],
    *,
    organization_id: int,
    match_on: str,
    keys: Collection[str],
    lock: bool,
) -> dict[str, list[Model]]:
    """The organization's rows whose `match_on` value is one of `keys`, by that value.

    Emails are matched without regard to case (lower-cased keys); external ids exactly. Rows
    are locked for the caller's transaction when `lock` (the batch then updates them).
    """
    rows = model._default_manager.filter(organization_id=organization_id)
    if match_on == "email":
        rows = rows.annotate(_match=Lower("email")).filter(_match__in=list(keys))
    else:
        rows = rows.filter(external_id__in=list(keys))
    if lock:
        rows = rows.select_for_update(of=("self",))
    found: dict[str, list[Model]] = defaultdict(list)
    for row in rows.order_by("pk"):
        key = row._match if match_on == "email" else row.external_id  # type: ignore[attr-defined]
        found[key].append(row)
    return found


def external_id_holders(
    model: type[Model], *, organization_id: int, external_ids: Collection[str]
) -> dict[str, int | None]:
    """For each of `external_ids`, the id of the organization's row holding it, or None."""
    holders: dict[str, int | None] = dict.fromkeys(external_ids)
    rows = model._default_manager.filter(
        organization_id=organization_id, external_id__in=list(external_ids)
    ).values_list("external_id", "pk")
    holders.update(rows)
    return holders
