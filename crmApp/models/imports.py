"""CSV import jobs and the rows they refused."""

from django.db import models

from crmApp.models.base import OrganizationScopedModel


class ImportJob(OrganizationScopedModel):
    """One uploaded CSV file being turned into customers or leads by background workers.

    The file is split into chunks (byte offsets found by the planning task) that workers process
    in parallel, batch by batch, each batch in its own transaction; the counters are advanced
    with `F()` so concurrent chunks never lose an update. Status moves pending -> running ->
    completed | failed | cancelled; a cancelled job stops before its next batch.
    """

    class Resource(models.TextChoices):
        CUSTOMERS = "customers", "Customers"
        LEADS = "leads", "Leads"

    class Mode(models.TextChoices):
        CREATE = "create", "Create"
        UPSERT = "upsert", "Upsert"

    class MatchOn(models.TextChoices):
        EMAIL = "email", "Email"
        EXTERNAL_ID = "external_id", "External id"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    created_by = models.ForeignKey(
        "crmApp.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resource = models.CharField(max_length=20, choices=Resource.choices)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.CREATE)
    match_on = models.CharField(max_length=20, choices=MatchOn.choices, default=MatchOn.EXTERNAL_ID)
    dry_run = models.BooleanField(default=False)
    #: CSV column -> field of the resource's API form.
    mapping = models.JSONField(default=dict)
    #: The header row's column names, in order.
    columns = models.JSONField(default=list)
    file_name = models.CharField(max_length=255)
    blob_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=1)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    rows_failed = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    #: Why the whole job failed (a row's reason is in its ImportRowError).
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "import_jobs"
        indexes = [models.Index(fields=["organization", "id"], name="import_jobs_org_id")]

    def __str__(self) -> str:
        return f"{self.resource} import #{self.pk}"


class ImportChunk(models.Model):
    """A run of consecutive rows of a job's file, processed by one task, batch by batch.

    `rows_done` advances in the transaction of each batch, so a task that is delivered again
    (a worker died, a retry) resumes after the last committed batch instead of repeating it.
    """

    TENANT_PATH = "job__organization_id"

    # Looked up through uniq_import_chunk_index, which leads with it.
    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="chunks", db_index=False
    )
    index = models.PositiveIntegerField()
    #: Byte offset of the chunk's first record in the file, and that record's row number.
    offset = models.PositiveBigIntegerField()
    first_row = models.PositiveIntegerField()
    rows = models.PositiveIntegerField()
    rows_done = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "import_chunks"
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="uniq_import_chunk_index")
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of import #{self.job_id}"

    @property
    def done(self) -> bool:
        return self.rows_done >= self.rows


class ImportRowError(models.Model):
    """One refused row: its number in the file (the header is row 1) and why."""

    TENANT_PATH = "job__organization_id"

    # Looked up through import_errors_job_row, which leads with it.
    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="row_errors", db_index=False
    )
    row_number = models.PositiveIntegerField()
    reason = models.TextField()
    #: The row's cells by CSV column, as read.
    values = models.JSONField(default=dict)

    class Meta:
        db_table = "import_row_errors"
        indexes = [models.Index(fields=["job", "row_number"], name="import_errors_job_row")]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"
