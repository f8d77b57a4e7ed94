from django.db import models
from django.db.models import Q

from crmApp.models.base import OrganizationScopedModel, TimeStampedModel


class Pipeline(OrganizationScopedModel):
    CODE_PREFIX = "PIP"

    code = models.CharField(max_length=50, null=True, blank=True)
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        db_table = "pipelines"
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="uniq_pipeline_code"),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_default=True),
                name="one_default_pipeline_per_organization",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "id"]),
            models.Index(fields=["organization", "is_active"]),
        ]

    def __str__(self) -> str:
        return self.name


class PipelineStage(TimeStampedModel):
    """A stage belongs to a tenant through its pipeline (no organization column of its own)."""

    TENANT_PATH = "pipeline__organization_id"

    # Looked up through uniq_stage_name, which leads with it.
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.CASCADE, related_name="stages", db_index=False
    )
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    order = models.IntegerField(default=0)
    probability = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    is_active = models.BooleanField(default=True)
    is_closed_won = models.BooleanField(default=False)
    is_closed_lost = models.BooleanField(default=False)
    auto_move_after_days = models.IntegerField(null=True, blank=True)
    #: An open deal left in this stage longer than this many days is rotting (null: never).
    rotting_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "pipeline_stages"
        ordering = ["pipeline", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="uniq_stage_name"),
        ]
        indexes = [models.Index(fields=["pipeline", "order"])]

    def __str__(self) -> str:
        return self.name
