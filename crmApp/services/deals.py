"""Deals: creation, updates and the won/lost state machine, plus the stats figures.

A deal is *open* (neither won nor lost; status `active` or `inactive`) or *closed* (won or lost;
status `closed`). Transitions:

* open → won (`deal_mark_won`), open → lost (`deal_mark_lost`), closed → open (`deal_reopen`);
* won → lost and lost → won are refused (reopen first); re-marking the same outcome is a no-op;
* moving into a stage flagged `is_closed_won` / `is_closed_lost` is the same as marking the deal
  won / lost; any other move copies the stage's probability; a closed deal only moves into a
  stage of its own outcome;
* winning sets probability 100, losing 0 (so expected revenue is the full value or nothing);
  reopening restores the current stage's probability (0 without a stage).

The outcome fields (`is_won`, `is_lost`, `status: closed`, `actual_close_date`, `lost_reason`)
change only through these transitions: an update that would change them otherwise is a 400.
Every transition locks the deal row (`SELECT ... FOR UPDATE`) and re-reads it, so concurrent
actions on one deal run one after the other and each sees the previous one's result.

Each change of a deal's stage or outcome is recorded in its stage history in the same
transaction (`_close_stage`, `_open_stage`): the open row is closed and a row for the new stage
and outcome opened, naming the actor, and the funnel's stage tallies and time in stage's stay
tallies follow (`stage_tally_entered`, `stay_tally_transition`).
"""

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from crmApp.errors import InvalidInput, NotFound, TransitionNotAllowed
from crmApp.models import (
    Customer,
    Deal,
    DealStageHistory,
    Organization,
    Pipeline,
    PipelineStage,
    User,
)
from crmApp.selectors.deals import STAGE_ENTERED_AT, row_locked
from crmApp.selectors.relations import carry_loaded_relations
from crmApp.services.audit import audit_record, audit_values
from crmApp.services.batch import batch_insert, batch_update, batch_update_fields, statement_batch
from crmApp.services.events import event_record_for
from crmApp.services.notifications import assignment_notice_queue
from crmApp.services.records import record_delete, records_delete
from crmApp.services.stage_tallies import (
    stage_tally_entered,
    stay_tally_opened,
    stay_tally_transition,
)

OPEN_STATUSES = (Deal.Status.ACTIVE, Deal.Status.INACTIVE)
WON_PROBABILITY = Decimal("100.00")
LOST_PROBABILITY = Decimal("0.00")
#: The columns a stage move may change (the stage, its odds, and the outcome when it closes).
MOVE_FIELDS = (
    "stage",
    "probability",
    "is_won",
    "is_lost",
    "status",
    "actual_close_date",
    "lost_reason",
)

OUTCOME_BY_ACTION = "Use the mark_won, mark_lost or reopen action to change a deal's outcome."
CLOSED_STATUS_BY_ACTION = "A deal is closed by marking it won or lost."
REOPEN_FIRST = "A won or lost deal must be reopened first."
CLOSE_DATE_OPEN_DEAL = "Only a won or lost deal has a close date."
CLOSE_DATE_REQUIRED = "A won or lost deal keeps its close date."
LOST_REASON_NOT_LOST = "Only a lost deal has a lost reason."


class DealTransitionError(TransitionNotAllowed):
    """A state-machine transition that is not allowed (400, `{"error": <message>}`)."""


class StageNotFound(NotFound):
    """The target stage is not one of the deal's pipeline (404, `{"error": "Stage not found"}`)."""

    default_message = "Stage not found"


def utc_today() -> datetime.date:
    return timezone.now().astimezone(datetime.UTC).date()


def _lock(deal: Deal) -> Deal:
    """Lock the deal's row and return it as now stored.

    Relations the caller already loaded (the customer, the pipeline with its stages, the stage,
    the assignee) carry over to the fresh instance wherever the row still points at them, so
    the caller can answer with the detail without a second joined read.
    """
    if row_locked(deal):  # read with FOR UPDATE in this transaction (DealSelector.locked)
        return deal
    locked = Deal.objects.select_for_update().get(pk=deal.pk)
    carry_loaded_relations(deal, locked)
    return locked


def _is_closed(deal: Deal) -> bool:
    return deal.is_won or deal.is_lost


StageState = tuple[int | None, str]


def _stage_state(deal: Deal) -> StageState:
    """What the stage history tracks of a deal: its stage and its outcome."""
    if deal.is_won:
        return deal.stage_id, DealStageHistory.Outcome.WON
    if deal.is_lost:
        return deal.stage_id, DealStageHistory.Outcome.LOST
    return deal.stage_id, DealStageHistory.Outcome.OPEN


def _close_stage(deal: Deal, *, before: StageState | None, at: datetime.datetime) -> None:
    """End the deal's open history row when its stage or outcome changed since `before`, and
    count the stay it ends and the closed flag it may change (`stay_tally_transition`, queued
    first: it reads the row still open)."""
    if before is not None and _stage_state(deal) != before:
        was_closed = before[1] != DealStageHistory.Outcome.OPEN
        stay_tally_transition(deal=deal, was_closed=was_closed, at=at)
        batch_update(DealStageHistory.objects.filter(deal=deal, left_at__isnull=True), left_at=at)


def _open_stage(
    deal: Deal, *, actor: User | None, before: StageState | None, at: datetime.datetime
) -> None:
    """Open the history row of the deal's stage and outcome when they changed since `before`.

    The deal's `stage_entered_at` is set to what the detail's annotation would read, so a
    transition can answer from the row it wrote without reading it again.
    """
    after = _stage_state(deal)
    if after == before:
        return
    stage_id, outcome = after
    if stage_id is None:  # the stage was deleted: nothing to enter
        setattr(deal, STAGE_ENTERED_AT, None)
        return
    # Before the row is queued: the tally reads the deal's rows in the stage as they were.
    stage_tally_entered(deal=deal, stage_id=stage_id, at=at, new_deal=before is None)
    if outcome == DealStageHistory.Outcome.OPEN:
        stay_tally_opened(deal=deal, stage_id=stage_id, at=at)
    batch_insert(
        DealStageHistory(
            organization_id=deal.organization_id,
            deal=deal,
            stage_id=stage_id,
            outcome=outcome,
            entered_at=at,
            actor=actor,
        )
    )
    setattr(deal, STAGE_ENTERED_AT, at)


def _save_transition(
    deal: Deal,
    *,
    actor: User | None,
    before: StageState,
    values: dict,
    event: str,
    fields: tuple[str, ...] | None = None,
) -> None:
    """Write a locked deal's transition: the row (`fields`, else every column), its stage
    history and its event with the audit row, in two statements on PostgreSQL (the row's
    UPDATE with the history close, then the history open with the event and audit INSERTs)."""
    deal.refresh_derived()
    if fields is None:
        fields = tuple(f.name for f in Deal._meta.local_concrete_fields if not f.primary_key)
    with statement_batch():
        batch_update_fields(deal, (*fields, *Deal.DERIVED_FIELDS))
        _close_stage(deal, before=before, at=deal.updated_at)
    with statement_batch():
        _open_stage(deal, actor=actor, before=before, at=deal.updated_at)
        event_record_for(deal, event, actor=actor, before=values)


def _win(deal: Deal) -> None:
    deal.is_won, deal.is_lost = True, False
    deal.status = Deal.Status.CLOSED
    deal.actual_close_date = utc_today()
    deal.probability = WON_PROBABILITY
    deal.lost_reason = None


def _lose(deal: Deal, *, lost_reason: str) -> None:
    deal.is_won, deal.is_lost = False, True
    deal.status = Deal.Status.CLOSED
    deal.actual_close_date = utc_today()
    deal.probability = LOST_PROBABILITY
    deal.lost_reason = lost_reason


def _enter_stage(deal: Deal, stage: PipelineStage, *, probability: Decimal | None = None) -> None:
    """Put an open deal (or a closed one into a stage of its own outcome) into `stage`."""
    deal.stage = stage
    if stage.is_closed_won:
        if not deal.is_won:
            _win(deal)
    elif stage.is_closed_lost:
        if not deal.is_lost:
            _lose(deal, lost_reason="")
    else:
        deal.probability = stage.probability if probability is None else probability


def _may_enter(deal: Deal, stage: PipelineStage) -> bool:
    """An open deal enters any stage; a closed one only a stage of its own outcome."""
    if deal.is_won:
        return stage.is_closed_won
    if deal.is_lost:
        return stage.is_closed_lost
    return True


@transaction.atomic
def deal_create(
    *,
    actor: User | None,
    organization: Organization,
    customer: Customer,
    pipeline: Pipeline,
    stage: PipelineStage,
    probability: Decimal | None = None,
    **fields,
) -> Deal:
    """Create an open deal in `stage`.

    Without an explicit `probability` the deal takes the stage's. Creating straight into
    a closed-won / closed-lost stage creates a won / lost deal, as moving there would.
    """
    deal = Deal(organization=organization, customer=customer, pipeline=pipeline, **fields)
    _enter_stage(deal, stage, probability=probability)
    deal.save()
    with statement_batch():
        _open_stage(deal, actor=actor, before=None, at=deal.created_at)
        event_record_for(deal, "deal.created", actor=actor)
    if deal.assigned_to_id is not None:
        assignment_notice_queue("deal", deal.pk)
    return deal


def _outcome_field_errors(deal: Deal, changes: dict) -> dict[str, list[str]]:
    """What an update form's outcome fields would change outside the transitions, by field.

    Outcome flags are accepted only unchanged; `status` may only switch between the open
    statuses of an open deal; the close date exists exactly while the deal is won or lost; only
    a lost deal has a lost reason.
    """
    closed = _is_closed(deal)
    errors: dict[str, list[str]] = {}
    for name in ("is_won", "is_lost"):
        if name in changes and changes[name] != getattr(deal, name):
            errors[name] = [OUTCOME_BY_ACTION]
    new_status = changes.get("status")
    if new_status is not None and new_status != deal.status:
        if closed:
            errors["status"] = [REOPEN_FIRST]
        elif new_status not in OPEN_STATUSES:
            errors["status"] = [CLOSED_STATUS_BY_ACTION]
    if "actual_close_date" in changes:
        close_date = changes["actual_close_date"]
        if not closed and close_date is not None:
            errors["actual_close_date"] = [CLOSE_DATE_OPEN_DEAL]
        elif closed and close_date is None:
            errors["actual_close_date"] = [CLOSE_DATE_REQUIRED]
    if "lost_reason" in changes and not deal.is_lost and changes["lost_reason"]:
        errors["lost_reason"] = [LOST_REASON_NOT_LOST]
    return errors


@transaction.atomic
def deal_update(*, deal: Deal, actor: User | None, **changes) -> Deal:
    """Apply an update form to a deal, keeping the state machine.

    Outcome fields are accepted only unchanged; `status` may switch between `active` and
    `inactive` on an open deal; a stage change behaves as `deal_move_stage` (the stage's
    probability unless the form also sends one); a closed deal's stage and probability are
    fixed until it is reopened.
    """
    deal = _lock(deal)
    before = _stage_state(deal)
    values = audit_values(deal)
    errors = _outcome_field_errors(deal, changes)
    stage = changes.pop("stage", None)
    moving = stage is not None and stage.pk != deal.stage_id
    if moving and not _may_enter(deal, stage):
        errors["stage_id"] = [REOPEN_FIRST]
    if _is_closed(deal) and "probability" in changes and changes["probability"] != deal.probability:
        errors["probability"] = [REOPEN_FIRST]
    if errors:
        raise InvalidInput(errors)

    probability = changes.get("probability")
    for name, value in changes.items():
        setattr(deal, name, value)
    if moving:
        _enter_stage(deal, stage, probability=probability)
    deal.save()
    with statement_batch():
        _close_stage(deal, before=before, at=deal.updated_at)
    with statement_batch():
        _open_stage(deal, actor=actor, before=before, at=deal.updated_at)
        event_record_for(deal, "deal.updated", actor=actor, before=values)
    if deal.assigned_to_id is not None and deal.assigned_to_id != values.get("assigned_to_id"):
        assignment_notice_queue("deal", deal.pk)
    return deal


def _stage_of_pipeline(deal: Deal, pipeline_id: int, stage_id: int) -> PipelineStage | None:
    """The stage `stage_id` of the deal's pipeline `pipeline_id` (None when it has none such).

    Read from the pipeline's stages when the deal already holds them (the detail's prefetch,
    which the answer shows anyway); else one query.
    """
    pipeline_field = Deal._meta.get_field("pipeline")
    if pipeline_field.is_cached(deal) and deal.pipeline is not None:
        pipeline = deal.pipeline
        stages = getattr(pipeline, "_prefetched_objects_cache", {}).get("stages")
        if stages is not None:
            if pipeline.organization_id != deal.organization_id:
                return None
            return next((stage for stage in stages if stage.pk == stage_id), None)
    return PipelineStage.objects.filter(
        pk=stage_id,
        pipeline_id=pipeline_id,
        **{PipelineStage.TENANT_PATH: deal.organization_id},
    ).first()


def _move_refusal(deal: Deal, stage: PipelineStage | None) -> Exception | None:
    if stage is None:  # also every deal without a pipeline: no stage is its own
        return StageNotFound()
    if not _may_enter(deal, stage):
        outcome = "won" if deal.is_won else "lost"
        return DealTransitionError(
            f"A {outcome} deal can only move into a closed-{outcome} stage; reopen it first."
        )
    return None


def deal_move_stage(*, deal: Deal, stage_id: int, actor: User | None) -> Deal:
    """Move a deal to another stage of its own pipeline (see the module docstring).

    A refusal is decided before anything is written and raised once the atomic block has
    ended, so the block needs no savepoint of its own inside a request's transaction (two
    statements of a move): it never ends by an exception that it must undo alone.
    """
    with transaction.atomic(savepoint=False):
        deal = _lock(deal)
        pipeline_id = deal.pipeline_id
        stage = None if pipeline_id is None else _stage_of_pipeline(deal, pipeline_id, stage_id)
        refusal = _move_refusal(deal, stage)
        if refusal is None and stage is not None:
            before = _stage_state(deal)
            values = audit_values(deal)
            _enter_stage(deal, stage)
            # Only what a move can change.
            _save_transition(
                deal,
                actor=actor,
                before=before,
                values=values,
                event="deal.stage_changed",
                fields=MOVE_FIELDS,
            )
    if refusal is not None:
        raise refusal
    return deal


@transaction.atomic
def deal_mark_won(*, deal: Deal, actor: User | None) -> Deal:
    """Win an open deal; a won deal stays as it is; a lost one must be reopened first."""
    deal = _lock(deal)
    if deal.is_lost:
        raise DealTransitionError("A lost deal cannot be marked as won; reopen it first.")
    if not deal.is_won:
        before, values = _stage_state(deal), audit_values(deal)
        _win(deal)
        _save_transition(deal, actor=actor, before=before, values=values, event="deal.won")
    return deal


@transaction.atomic
def deal_mark_lost(*, deal: Deal, actor: User | None, lost_reason: str | None = None) -> Deal:
    """Lose an open deal (reason default ""); re-losing only updates a reason that is given."""
    deal = _lock(deal)
    if deal.is_won:
        raise DealTransitionError("A won deal cannot be marked as lost; reopen it first.")
    if not deal.is_lost:
        before, values = _stage_state(deal), audit_values(deal)
        _lose(deal, lost_reason=lost_reason or "")
        _save_transition(deal, actor=actor, before=before, values=values, event="deal.lost")
    elif lost_reason is not None and lost_reason != deal.lost_reason:
        values = audit_values(deal)
        deal.lost_reason = lost_reason
        deal.save(update_fields=["lost_reason"])
        audit_record(deal, "updated", actor=actor, before=values)
    return deal


@transaction.atomic
def deal_reopen(*, deal: Deal, actor: User | None) -> Deal:
    """Reopen a won or lost deal: open again, no close date or lost reason, stage's odds."""
    deal = _lock(deal)
    if not _is_closed(deal) and deal.status != Deal.Status.CLOSED:
        raise DealTransitionError("Only a won or lost deal can be reopened.")
    before, values = _stage_state(deal), audit_values(deal)
    deal.is_won = deal.is_lost = False
    deal.status = Deal.Status.ACTIVE
    deal.actual_close_date = None
    deal.lost_reason = None
    stage = deal.stage  # None without a stage, read without a query
    deal.probability = stage.probability if stage is not None else LOST_PROBABILITY
    _save_transition(deal, actor=actor, before=before, values=values, event="deal.reopened")
    return deal


@transaction.atomic(savepoint=False)
def deal_delete(*, deal: Deal, actor: User | None) -> None:
    record_delete(deal, actor=actor)


@transaction.atomic(savepoint=False)
def deal_delete_many(*, ids: list[int], actor: User | None) -> int:
    """Delete the deals with `ids` (already checked to be visible and deletable)."""
    return records_delete(Deal, ids=ids, actor=actor)
