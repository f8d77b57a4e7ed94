"""Pipelines and their stages: one default pipeline per organization, dense stage orders.

Stage positions are 0-based and dense: a pipeline with n stages has orders 0..n-1, and every
stage write (create, update, move, delete) renumbers the rest. A create may name any order from
0: one past the end (or further) appends the stage, so a client numbering its stages 1, 2, 3
into an empty pipeline gets 0, 1, 2 in the same sequence. A move names an existing position
(0..n-1), anything else is a 400. A stage holding deals is deleted only with `move_to`, a stage
of the same pipeline the deals are moved into first (through `deal_move_stage`, which records
each move in the deals' stage history); without it the delete is refused (409).

Each such write first locks the pipeline row, so two writers on one pipeline run one after the
other and never interleave their renumbering (a plain row lock on the stages could not stop a
concurrent insert). The locks are `FOR NO KEY UPDATE`, which does not block inserts of deals or
stages that reference the row.
"""

from django.db import transaction
from django.utils import timezone

from crmApp.errors import InvalidInput, RecordInUse, RecordMissing
from crmApp.models import Deal, Organization, Pipeline, PipelineStage, User
from crmApp.services.audit import audit_record, audit_values
from crmApp.services.deals import deal_move_stage
from crmApp.services.records import record_delete


def _lock_pipeline(pipeline_id: int) -> Pipeline:
    return Pipeline.objects.select_for_update(no_key=True).get(pk=pipeline_id)


def _ordered_stages(pipeline_id: int) -> list[PipelineStage]:
    return list(PipelineStage.objects.filter(pipeline_id=pipeline_id).order_by("order", "id"))


def _renumber(stages: list[PipelineStage]) -> None:
    """Give the stages orders 0..n-1 in list order, writing only the rows that change."""
    changed = []
    for position, stage in enumerate(stages):
        if stage.order != position:
            stage.order = position
            changed.append(stage)
    if changed:
        PipelineStage.objects.bulk_update(changed, ["order"])


def _check_position(position: int, *, last: int) -> None:
    if not 0 <= position <= last:
        raise InvalidInput({"order": [f"Ensure this value is between 0 and {last}."]})


@transaction.atomic
def stage_create(
    *, actor: User | None, pipeline: Pipeline, order: int | None = None, **fields
) -> PipelineStage:
    """Insert a stage at `order` (default, or past the end: after the last one), shifting the
    later stages."""
    _lock_pipeline(pipeline.pk)
    stages = _ordered_stages(pipeline.pk)
    position = len(stages) if order is None else min(order, len(stages))
    _check_position(position, last=len(stages))
    stage = PipelineStage.objects.create(pipeline=pipeline, order=position, **fields)
    stages.insert(position, stage)
    _renumber(stages)
    audit_record(stage, "created", actor=actor, organization_id=pipeline.organization_id)
    return stage


@transaction.atomic
def stage_move(*, stage: PipelineStage, order: int, actor: User | None = None) -> PipelineStage:
    """Move a stage to position `order` (0-based); the stages in between shift by one."""
    pipeline = _lock_pipeline(stage.pipeline_id)
    stages = _ordered_stages(stage.pipeline_id)
    current = next((s for s in stages if s.pk == stage.pk), None)
    if current is None:
        raise RecordMissing("PipelineStage")
    _check_position(order, last=len(stages) - 1)
    before = audit_values(current)
    stages.remove(current)
    stages.insert(order, current)
    _renumber(stages)
    audit_record(
        current, "moved", actor=actor, before=before, organization_id=pipeline.organization_id
    )
    return current


@transaction.atomic
def stage_update(
    *, stage: PipelineStage, actor: User | None, order: int | None = None, **fields
) -> PipelineStage:
    """Change a stage's fields and, when `order` is given, its position (as `stage_move`).

    The pipeline is not among the changeable fields: a stage never moves between pipelines.
    """
    pipeline = _lock_pipeline(stage.pipeline_id)
    fields.pop("pipeline", None)
    fresh = PipelineStage.objects.filter(pk=stage.pk).first()
    if fresh is None:
        raise RecordMissing("PipelineStage")
    before = audit_values(fresh)
    for name, value in fields.items():
        setattr(fresh, name, value)
    fresh.save(update_fields=[*fields, "updated_at"])
    audit_record(
        fresh, "updated", actor=actor, before=before, organization_id=pipeline.organization_id
    )
    if order is not None:
        fresh = stage_move(stage=fresh, order=order, actor=actor)
    return fresh


@transaction.atomic
def stage_delete(*, stage: PipelineStage, actor: User | None, move_to: int | None = None) -> None:
    """Delete a stage and close the gap it leaves.

    Its deals are first moved to the stage `move_to` of the same pipeline, each through the
    deal services (state machine and stage history); without `move_to`, a stage holding deals
    is not deleted (409), so no deal silently loses its stage.
    """
    pipeline = _lock_pipeline(stage.pipeline_id)
    if move_to is not None:
        other_stages = PipelineStage.objects.filter(pipeline_id=stage.pipeline_id)
        if not other_stages.filter(pk=move_to).exclude(pk=stage.pk).exists():
            raise InvalidInput({"move_to": ["Must be another stage of the same pipeline."]})
    deals = list(Deal.objects.filter(stage_id=stage.pk).order_by("id"))
    if deals and move_to is None:
        count = len(deals)
        raise RecordInUse(
            f"This stage holds {count} deal{'s' if count != 1 else ''}; name a `move_to` "
            "stage of the same pipeline to move them there before deleting it."
        )
    if move_to is not None:
        for deal in deals:
            # The deal services apply the state machine (a closed deal enters only a stage of
            # its outcome, else the whole delete is refused) and record each move in the history.
            deal_move_stage(deal=deal, stage_id=move_to, actor=actor)
    audit_record(stage, "deleted", actor=actor, organization_id=pipeline.organization_id)
    return _delete_stage(stage)


def _delete_stage(stage: PipelineStage) -> None:
    PipelineStage.objects.filter(pk=stage.pk).delete()
    _renumber(_ordered_stages(stage.pipeline_id))


def _lock_organization_pipelines(organization_id: int) -> None:
    """Lock every pipeline of the organization, in id order so that two switches can't deadlock."""
    list(
        Pipeline.objects.select_for_update(no_key=True)
        .filter(organization_id=organization_id)
        .order_by("id")
        .values_list("pk", flat=True)
    )


def _clear_default(*, organization_id: int, keep_id: int | None) -> None:
    defaults = Pipeline.objects.filter(organization_id=organization_id, is_default=True)
    if keep_id is not None:
        defaults = defaults.exclude(pk=keep_id)
    defaults.update(is_default=False, updated_at=timezone.now())


@transaction.atomic
def pipeline_set_default(*, pipeline: Pipeline, actor: User | None = None) -> Pipeline:
    """Make `pipeline` the only default pipeline of its organization.

    The organization's pipelines are locked before the old default is cleared and the new one
    set, so concurrent switches run one after the other and the partial unique constraint
    (one default per organization) never sees two defaults. The only race left is two creates
    in an organization with no pipeline yet (nothing to lock): there the constraint decides and
    the loser's IntegrityError becomes a 409 at the API, never a second default.
    """
    _lock_organization_pipelines(pipeline.organization_id)
    _clear_default(organization_id=pipeline.organization_id, keep_id=pipeline.pk)
    before = audit_values(pipeline)
    Pipeline.objects.filter(pk=pipeline.pk, is_default=False).update(
        is_default=True, updated_at=timezone.now()
    )
    pipeline.refresh_from_db()
    audit_record(pipeline, "set_default", actor=actor, before=before)
    return pipeline


@transaction.atomic
def pipeline_create(
    *, actor: User | None, organization: Organization, is_default: bool = False, **fields
) -> Pipeline:
    """Create a pipeline; `is_default=True` takes the default over through the same switch."""
    if is_default:
        _lock_organization_pipelines(organization.pk)
        _clear_default(organization_id=organization.pk, keep_id=None)
    pipeline = Pipeline.objects.create(organization=organization, is_default=is_default, **fields)
    audit_record(pipeline, "created", actor=actor)
    return pipeline


@transaction.atomic
def pipeline_update(*, pipeline: Pipeline, actor: User | None, **changes) -> Pipeline:
    """Change a pipeline; `is_default=True` takes the default over through the same switch.

    `is_default=False` on the default pipeline simply leaves the organization without one.
    The organization of a pipeline never changes (the serializer refuses it).
    """
    changes.pop("organization", None)
    if changes.get("is_default"):
        _lock_organization_pipelines(pipeline.organization_id)
        _clear_default(organization_id=pipeline.organization_id, keep_id=pipeline.pk)
    before = audit_values(pipeline)
    for name, value in changes.items():
        setattr(pipeline, name, value)
    pipeline.save(update_fields=[*changes, "updated_at"])
    audit_record(pipeline, "updated", actor=actor, before=before)
    return pipeline


@transaction.atomic(savepoint=False)
def pipeline_delete(*, pipeline: Pipeline, actor: User | None) -> None:
    """Delete a pipeline with its stages (its deals go with it)."""
    record_delete(pipeline, actor=actor)
