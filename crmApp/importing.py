"""Running a CSV import job: planning the file into chunks, and each chunk's batches.

This is the import's counterpart of a viewset: it stands where a request would, with the job's
creator as the caller. Each row goes through the resource's API form (`IMPORT_FORMS`) with the
creator's access, exactly as `POST /api/<resource>/` or a `PATCH` would: the same field rules,
the same same-organization checks of related ids (an assigned employee of another organization
is refused), the same external-id uniqueness. The creator's create (and, for an upsert, update)
permission is checked again when each chunk starts, so revoking it stops the job. Writes go
through `crmApp.services.imports`.

Cells are taken as literal text: a cell that looks like a formula (`=`, `+`, `-`, `@`, tab, CR)
is stored as written, so a name `=HYPERLINK(...)` stays that text (and the export neutralises it
again on the way out) while `-5` in a numeric field is still the number -5. The one `'` the
export puts before such a cell is removed, so an exported file imports back unchanged. Empty
cells are left out: a new record gets the field's default, an updated one keeps its value.
"""

from __future__ import annotations

import json
import logging
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField, empty

from crmApp.csvfiles import FORMULA_PREFIXES, CsvFormatError, read_header, records
from crmApp.models import ImportChunk, ImportJob
from crmApp.permissions import Access, resolve_access, write_refusal
from crmApp.selectors.imports import external_id_holders, import_matches
from crmApp.serializers.imports import IMPORT_FORMS
from crmApp.services import imports as services
from crmApp.services.blobs import files_storage

logger = logging.getLogger("crmApp.imports")

FILE_GONE = "The uploaded file is no longer available."
TOO_MANY_ROWS = "The file has more than {limit} data rows."
PERMISSION_LOST = "The user who started this import may no longer write {resource} here."


class ImportCaller:
    """Stands in for the request and the view in the form's context: the job's creator, with
    their access resolved once per chunk, acting in the job's organization."""

    def __init__(self, job: ImportJob, access: Access):
        self.user = job.created_by
        self._crm_access = access
        self.organization_id = job.organization_id

    def default_organization_id(self) -> int:
        return self.organization_id


def required_permissions(job: ImportJob) -> tuple[tuple[str, str], ...]:
    upsert = job.mode == ImportJob.Mode.UPSERT
    return ((job.resource, "create"),) + (((job.resource, "update"),) if upsert else ())


# --- planning -------------------------------------------------------------------------------


def import_plan(job_id: int) -> list[int]:
    """Read the file once to count its rows and cut it into chunks at record boundaries; the ids
    of the chunks to run (none when the job is finished, failed or not pending)."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.status not in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING):
        return []
    size = settings.IMPORT_CHUNK_ROWS
    chunks: list[tuple[int, int, int]] = []
    count = 0
    try:
        with files_storage().open(job.blob_name, "rb") as file:
            _columns, start = read_header(file, encoding=job.encoding, delimiter=job.delimiter)
            for _record, end in records(
                file, encoding=job.encoding, delimiter=job.delimiter, start=start
            ):
                count += 1
                if count > settings.IMPORT_MAX_ROWS:
                    services.import_job_fail(
                        job=job, reason=TOO_MANY_ROWS.format(limit=settings.IMPORT_MAX_ROWS)
                    )
                    return []
                if count % size == 0:
                    chunks.append((start, count - size + 2, size))
                    start = end
    except CsvFormatError as exc:
        services.import_job_fail(job=job, reason=str(exc))
        return []
    except FileNotFoundError:
        services.import_job_fail(job=job, reason=FILE_GONE)
        return []
    if count % size:
        chunks.append((start, count - count % size + 2, count % size))
    return services.import_job_start(job=job, chunks=chunks, rows_total=count)


# --- one chunk ------------------------------------------------------------------------------


def import_chunk(chunk_id: int) -> str:
    """Process one chunk batch by batch; resumes after its last committed batch."""
    chunk = (
        ImportChunk.objects.select_related("job", "job__created_by", "job__organization")
        .filter(pk=chunk_id)
        .first()
    )
    if chunk is None or chunk.done or chunk.job.status != ImportJob.Status.RUNNING:
        return "skipped"
    job = chunk.job
    access = resolve_access(job.created_by)
    if write_refusal(access, job.organization_id, required_permissions(job)) is not None:
        services.import_job_fail(job=job, reason=PERMISSION_LOST.format(resource=job.resource))
        return "failed"
    batch_runner = _Batches(job, ImportCaller(job, access))
    with files_storage().open(job.blob_name, "rb") as file:
        rows = records(file, encoding=job.encoding, delimiter=job.delimiter, start=chunk.offset)
        remaining = islice(rows, chunk.rows_done, chunk.rows)
        number = chunk.first_row + chunk.rows_done
        while not chunk.done:
            batch = []
            for record, _end in islice(remaining, settings.IMPORT_BATCH_SIZE):
                batch.append((number, record))
                number += 1
            if not batch:
                break  # the file ended early (it changed under us): nothing more to read
            if not services.import_job_running(job.pk):
                return "cancelled"
            batch_runner.run(chunk, batch)
    return "done"


class _ManyRows:
    """Mixed in front of a resource's form that validates many rows (`batch_form_class`).

    DRF derives two lists from a form's fields on every row it validates (the writable fields,
    and the read-only fields with a default); the import validates thousands of rows with one
    form whose fields never change once built, so both lists are taken once. The fields, their
    order and each row's validation stay exactly the form's own.
    """

    fields: Any

    @cached_property
    def _writable_fields(self) -> tuple[serializers.Field, ...]:
        return tuple(field for field in self.fields.values() if not field.read_only)

    @cached_property
    def _read_only_default_fields(self) -> tuple[serializers.Field, ...]:
        return tuple(
            field
            for field in self.fields.values()
            if field.read_only
            and field.default != empty
            and field.source != "*"
            and "." not in field.source
        )

    def _read_only_defaults(self) -> dict[str, Any]:
        defaults = {}
        for field in self._read_only_default_fields:
            try:
                defaults[field.source] = field.get_default()
            except SkipField:
                continue
        return defaults


_BATCH_FORMS: dict[type, type] = {}


def batch_form_class(form_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """`form_class` with `_ManyRows` mixed in (one subclass per form class)."""
    batch_class = _BATCH_FORMS.get(form_class)
    if batch_class is None:
        batch_class = _BATCH_FORMS[form_class] = type(
            form_class.__name__, (_ManyRows, form_class), {"__module__": __name__}
        )
    return batch_class


class _Batches:
    def __init__(self, job: ImportJob, caller: ImportCaller):
        self.job = job
        self.form_class = batch_form_class(IMPORT_FORMS[job.resource])
        self.model: type[models.Model] = self.form_class.Meta.model
        self.context = {
            "request": caller,
            "view": caller,
            "organization": job.organization,
        }
        self.index = {column: i for i, column in enumerate(job.columns)}
        self.upsert = job.mode == ImportJob.Mode.UPSERT
        self.create_form: serializers.Serializer | None = None
        self.update_form: serializers.Serializer | None = None

    def run(self, chunk: ImportChunk, batch: list[tuple[int, list[str]]]) -> None:
        """Validate and write one batch. A lost race with a concurrent chunk (two rows of the
        file with one new external id) is retried once with fresh matches.

        An upsert validates and writes in one transaction, which locks the rows it matched.
        A create validates first, then reserves its new rows' codes in a short transaction of
        their own (`import_codes_reserve`), then writes: the organization's counter row is
        locked only for that statement, not while the batch's rows and their search indexes
        are written, so the chunks of one organization write side by side. A batch that fails
        after reserving leaves its codes unused, as a database sequence would.
        """
        for attempt in (1, 2):
            try:
                if self.upsert:
                    with transaction.atomic():
                        self.commit(chunk, batch, self.validate_batch(batch), codes=None)
                else:
                    outcome = self.validate_batch(batch)
                    codes = None
                    if not self.job.dry_run and outcome.creates:
                        codes = services.import_codes_reserve(
                            model=self.model,
                            organization_id=self.job.organization_id,
                            count=len(outcome.creates),
                        )
                    with transaction.atomic():
                        self.commit(chunk, batch, outcome, codes=codes)
                return
            except IntegrityError:
                chunk.refresh_from_db(fields=["rows_done"])
                if attempt == 2:
                    raise

    def commit(self, chunk: ImportChunk, batch: list, outcome: _Outcome, *, codes) -> None:
        services.import_batch_commit(
            chunk=chunk,
            model=self.model,
            creates=outcome.creates,
            codes=codes,
            updates=outcome.updates,
            unchanged=outcome.unchanged,
            errors=outcome.errors,
            rows=len(batch),
            actor=self.job.created_by,
            dry_run=self.job.dry_run,
        )

    def validate_batch(self, batch: list[tuple[int, list[str]]]) -> _Outcome:
        """Each row of `batch` through the form: what to create, update, leave, and why rows
        are refused."""
        rows = [(number, record, self.row_data(record)) for number, record in batch]
        matches = self.matches(rows)
        # The form's external-id uniqueness check, answered for the whole batch at once.
        self.context["external_ids"] = self.external_ids(rows)
        outcome = _Outcome()
        seen: dict[tuple[str, str], int] = {}
        for number, record, data in rows:
            reason = self.duplicate(number, data, seen)
            if reason is None:
                reason = self.validate(data, matches, outcome)
            if reason is not None:
                outcome.errors.append((number, reason, self.cells(record)))
        return outcome

    # --- rows -----------------------------------------------------------------------------

    def cells(self, record: list[str]) -> dict[str, str]:
        return {column: record[i] if i < len(record) else "" for column, i in self.index.items()}

    def row_data(self, record: list[str]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for column, field in self.job.mapping.items():
            position = self.index[column]
            text = record[position] if position < len(record) else ""
            if not text.strip():
                continue
            data[field] = field_value(field, literal_text(text))
        return data

    def match_key(self, data: dict[str, Any]) -> str | None:
        value = data.get(self.job.match_on)
        if not isinstance(value, str) or not value.strip():
            return None
        value = value.strip()
        return value.lower() if self.job.match_on == ImportJob.MatchOn.EMAIL else value

    def matches(self, rows) -> dict[str, list[models.Model]]:
        if not self.upsert:
            return {}
        keys = {key for _n, _r, data in rows if (key := self.match_key(data)) is not None}
        if not keys:
            return {}
        return import_matches(
            self.model,
            organization_id=self.job.organization_id,
            match_on=self.job.match_on,
            keys=keys,
            lock=not self.job.dry_run,
        )

    def form_for(self, instance: models.Model | None):
        """The resource's form bound to `instance` (None: a create; else a partial update).

        One form per kind serves every row, as DRF's list serializer validates each item with
        one child: building a form's fields costs more than validating a row with them.
        """
        if instance is None:
            if self.create_form is None:
                self.create_form = self.form_class(context=self.context)
            return self.create_form
        if self.update_form is None:
            self.update_form = self.form_class(instance, partial=True, context=self.context)
        self.update_form.instance = instance
        return self.update_form

    def external_ids(self, rows) -> dict[str, int | None] | None:
        values = {
            value.strip()
            for _n, _r, data in rows
            if isinstance(value := data.get("external_id"), str) and value.strip()
        }
        if not values:
            return None
        return external_id_holders(
            self.model, organization_id=self.job.organization_id, external_ids=values
        )

    def duplicate(self, number: int, data: dict, seen: dict[tuple[str, str], int]) -> str | None:
        """Two rows of one batch naming the same record (or the same new external id) would
        race each other; the later one is refused."""
        keys = []
        if self.upsert:
            key = self.match_key(data)
            if key is None:
                return f"The {self.job.match_on} column, used to match records, is empty."
            keys.append((self.job.match_on, key))
        external_id = data.get("external_id")
        if isinstance(external_id, str) and external_id.strip():
            keys.append(("external_id", external_id.strip()))
        for key in dict.fromkeys(keys):
            if key in seen:
                return f"Same {key[0]} as row {seen[key]} of this file."
        for key in keys:
            seen[key] = number
        return None

    def validate(self, data: dict, matches: dict, outcome: _Outcome) -> str | None:
        existing = matches.get(self.match_key(data) or "", []) if self.upsert else []
        if len(existing) > 1:
            return f"{len(existing)} records of this organization have this {self.job.match_on}."
        instance = existing[0] if existing else None
        try:
            values = dict(self.form_for(instance).run_validation(data))
        except ValidationError as exc:
            return error_text(exc.detail)
        values.pop("organization", None)
        if instance is None:
            outcome.creates.append(values)
            return None
        changes = changed_values(instance, values)
        if changes:
            outcome.updates.append((instance, changes))
        else:
            outcome.unchanged += 1
        return None


class _Outcome:
    def __init__(self) -> None:
        self.creates: list[dict[str, Any]] = []
        self.updates: list[tuple[models.Model, dict[str, Any]]] = []
        self.unchanged = 0
        self.errors: list[tuple[int, str, dict]] = []


def literal_text(text: str) -> str:
    """The cell as stored: the export's protective `'` before a formula character removed."""
    if text.startswith("'") and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


def field_value(field: str, text: str) -> Any:
    """Tags come as a JSON array (as the export writes them) or comma-separated."""
    if field != "tags":
        return text
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return [tag.strip() for tag in stripped.split(",") if tag.strip()]


def changed_values(instance: models.Model, values: dict[str, Any]) -> dict[str, Any]:
    """The validated values that differ from the row (related rows compared by id)."""
    changes = {}
    for name, value in values.items():
        field = instance._meta.get_field(name)
        current = getattr(instance, field.attname)
        new = value.pk if isinstance(value, models.Model) else value
        if current != new:
            changes[name] = value
    return changes


def error_text(errors: Any) -> str:
    """A form's errors as one line: `field: message; field: message`."""
    parts = []
    for field, messages in errors.items():
        if isinstance(messages, dict):
            messages = [error_text(messages)]
        text = " ".join(str(message) for message in messages)
        parts.append(text if field == "non_field_errors" else f"{field}: {text}")
    return "; ".join(parts)
