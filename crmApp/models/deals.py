from decimal import ROUND_HALF_UP, Decimal

from django.db import models

from crmApp.models.base import OrganizationScopedModel


class Deal(OrganizationScopedModel):
    EVENT_RESOURCE = "deal"

    CODE_PREFIX = "DEAL"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    code = models.CharField(max_length=50, null=True, blank=True)
    #: The caller's own id for the record (another system's key), unique per organization.
    external_id = models.CharField(max_length=255, null=True, blank=True)
    title = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    customer = models.ForeignKey(
        "crmApp.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    lead = models.ForeignKey(
        "crmApp.Lead", on_delete=models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    pipeline = models.ForeignKey(
        "crmApp.Pipeline", on_delete=models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    stage = models.ForeignKey(
        "crmApp.PipelineStage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deals",
    )
    assigned_to = models.ForeignKey(
        "crmApp.Employee", on_delete=models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    probability = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    expected_revenue = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    expected_close_date = models.DateField(null=True, blank=True)
    actual_close_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    priority = models.CharField(max_length=20, choices=Priority.choices, default=Priority.MEDIUM)
    is_won = models.BooleanField(default=False)
    is_lost = models.BooleanField(default=False)
    lost_reason = models.TextField(null=True, blank=True)
    source = models.CharField(max_length=100, null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    notes = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "deals"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="uniq_deal_external_id",
            ),
            models.UniqueConstraint(fields=["organization", "code"], name="uniq_deal_code"),
        ]
        indexes = [
            models.Index(fields=["organization", "id"]),
            models.Index(fields=["organization", "status"]),
            # Reports narrowed to an owner (win rate, velocity, forecast) read only this index:
            # the owner's deals lie together, with every column those reports use, so on
            # PostgreSQL they are an index-only scan instead of a heap page per deal (deals are
            # wide: an owner's few thousand sat on nearly every page). The foreign key keeps
            # its own index on `assigned_to`.
            models.Index(
                fields=["organization", "assigned_to", "pipeline"],
                include=[
                    "id",
                    "is_won",
                    "is_lost",
                    "actual_close_date",
                    "expected_close_date",
                    "created_at",
                    "value",
                    "probability",
                    "stage",
                    "lead",
                    "source",
                ],
                name="deals_owner_reports",
            ),
            models.Index(fields=["expected_close_date"]),
            models.Index(fields=["is_won"]),
            models.Index(fields=["is_lost"]),
        ]

    def __str__(self) -> str:
        return self.title

    #: Columns every save writes besides the ones it names: what `refresh_derived` computes.
    DERIVED_FIELDS = ("expected_revenue", "updated_at")

    def refresh_derived(self) -> None:
        """Compute the stored figures that follow from other fields (before any save)."""
        self.expected_revenue = compute_expected_revenue(self.value, self.probability)

    def save(self, *args, **kwargs):
        self.refresh_derived()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, *self.DERIVED_FIELDS}
        super().save(*args, **kwargs)


def compute_expected_revenue(value, probability) -> Decimal | None:
    """value × probability / 100, to the cent; null when there is no value."""
    if value is None:
        return None
    probability = Decimal(probability or 0)
    return (Decimal(value) * probability / Decimal(100)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


class DealStageHistory(models.Model):
    """One stay of a deal in one stage and outcome: entered, left (null while it lasts), by whom.

    The deal services close the open row and open the next one whenever a deal's stage or outcome
    changes (create, move, update into another stage, win, lose, reopen), so a deal holds at
    most one open row (a partial unique constraint). Winning or losing without a move keeps the
    stage and starts a row of that outcome, so the time a deal spent being worked in a stage
    (`outcome = open`) is not stretched by the time it then sat there won or lost.

    The organization is stored on the row (not reached through the deal) so that reports filter
    and group history without joining deals when they need nothing else of them.
    """

    class Outcome(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    TENANT_PATH = "organization_id"

    # Looked up through the (organization, stage, entered_at) index, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization",
        on_delete=models.CASCADE,
        related_name="deal_stage_history",
        db_index=False,
    )
    # Looked up through the (deal, -entered_at) index, which leads with it.
    deal = models.ForeignKey(
        Deal, on_delete=models.CASCADE, related_name="stage_history", db_index=False
    )
    # A deleted stage keeps its deal's past (reports then show it under no stage).
    stage = models.ForeignKey(
        "crmApp.PipelineStage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="history",
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OPEN)
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(
        "crmApp.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "deal_stage_history"
        constraints = [
            models.UniqueConstraint(
                fields=["deal"],
                condition=models.Q(left_at__isnull=True),
                name="one_open_stage_row_per_deal",
            )
        ]
        indexes = [
            # A deal's rows, newest first (its stage history), holding every column the
            # funnel and time in stage read of the history: narrowed to an owner, those reports
            # read the owner's deals' rows from this index alone. Without the columns each
            # deal's ten-odd rows were as many heap pages, and PostgreSQL preferred reading
            # all 1M rows (funnel 160 ms, time in stage 255 ms; with them 40 and 90 ms).
            models.Index(
                fields=["deal", "-entered_at"],
                include=["stage", "outcome", "left_at", "organization"],
                name="stage_history_by_deal",
            ),
            models.Index(fields=["organization", "stage", "entered_at"]),
            # Stays still open, by stage and entry (time in stage reads those of the days it needs).
            models.Index(
                fields=["stage", "entered_at"],
                condition=models.Q(left_at__isnull=True, outcome="open"),
                name="stay_history_open_entered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id} in {self.stage_id} ({self.outcome})"


class StageEntryTally(models.Model):
    """Per organization, pipeline stage and UTC day: how many deals entered the stage for the
    first time that day (`first_entries`: their earliest stage-history row there is of that
    day), and how many entered it for the last time so far (`last_entries`: their latest).

    Why: the funnel counts the distinct deals with a history row in each stage within a period,
    and a huge tenant's 1M history rows took hundreds of milliseconds to count that way on every
    request. Without an owner and with at most one bound, these rows give the same count from a
    few thousand rows (`selectors.reports.funnel`): up to an end day, the deals first in before
    it; from a start day, every deal of the stage less those whose latest entry is before it.
    They are derived from the history alone and kept by `crmApp.services.stage_tallies` in the
    transaction of every write that adds, changes or removes history rows (deal services,
    record deletes, the admin); migration 0012 built them from the history already stored.
    Zero rows are kept (a later entry fills them again).
    """

    TENANT_PATH = "organization_id"

    # Looked up through one_tally_per_stage_and_day, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # A deleted stage takes its tallies along (its history rows then have no stage).
    stage = models.ForeignKey("crmApp.PipelineStage", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    first_entries = models.IntegerField(default=0)
    last_entries = models.IntegerField(default=0)

    class Meta:
        db_table = "stage_entry_tallies"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "stage", "day"], name="one_tally_per_stage_and_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stage_id} on {self.day}: {self.first_entries}, {self.last_entries}"


class StayTally(models.Model):
    """Per organization, pipeline stage, the deal's closed flag and a duration bucket: how many
    finished stays (`outcome = open` history rows with `left_at` set) fall in the bucket, the sum
    of their durations in microseconds, and the sum of their rounding residues.

    Why: time in stage reports exact percentiles, and sorting a huge tenant's 1M stays on every
    cache miss took over a second. The buckets (`crmApp.models.stays.stay_bucket`, three
    significant decimal digits of the duration in microseconds, so each holds few distinct
    values) are ordered like the durations, so these counts tell which bucket holds a given
    rank, and only that bucket's rows are read (`crmApp.selectors.stays`). `micros` and
    `residue` give the exact sum PostgreSQL's `AVG` makes of the rows' rounded day counts.
    Stays still open grow with time and are tallied by their day of entry instead
    (`OpenStayTally`). The flag is the deal's now (won or lost),
    so winning, losing and reopening move the deal's finished stays from one flag to the other.
    Kept by `crmApp.services.stage_tallies` in the transaction of every write that changes a
    finished stay or a deal's flag; zero rows are kept.
    """

    TENANT_PATH = "organization_id"

    # Looked up through one_stay_tally_per_bucket, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # A deleted stage takes its tallies along (its history rows then have no stage: no stays).
    stage = models.ForeignKey("crmApp.PipelineStage", on_delete=models.CASCADE, related_name="+")
    deal_closed = models.BooleanField()
    bucket = models.IntegerField()
    stays = models.IntegerField(default=0)
    micros = models.BigIntegerField(default=0)
    residue = models.BigIntegerField(default=0)

    class Meta:
        db_table = "stay_tallies"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "stage", "deal_closed", "bucket"],
                name="one_stay_tally_per_bucket",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stage_id}/{self.deal_closed}/{self.bucket}: {self.stays}"


class OpenStayTally(models.Model):
    """Per organization, pipeline stage, the deal's closed flag and UTC day of entry: how many
    stays are still open (`outcome = open` history rows without `left_at`) and the sum of
    their entry moments after that day's midnight, in microseconds.

    Why: an open stay lasts until now, so its duration cannot be tallied, but its entry can;
    the durations of a day's entries lie within one day, and their exact sum is the count times
    now less the entries' sum. The time-in-stage report reads these rows with `StayTally`'s and
    fetches only the rows of the few cells around each rank it needs. Kept like `StayTally`.
    """

    TENANT_PATH = "organization_id"

    # Looked up through one_open_stay_tally_per_day, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    stage = models.ForeignKey("crmApp.PipelineStage", on_delete=models.CASCADE, related_name="+")
    deal_closed = models.BooleanField()
    day = models.DateField()
    stays = models.IntegerField(default=0)
    offsets = models.BigIntegerField(default=0)

    class Meta:
        db_table = "open_stay_tallies"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "stage", "deal_closed", "day"],
                name="one_open_stay_tally_per_day",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stage_id}/{self.deal_closed}/{self.day}: {self.stays}"
