"""Shared model building blocks: timestamps, the organization-owned base and code sequences."""

from django.db import connections, models, router, transaction
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery


def insert_sql(instance: models.Model, *, using: str, returning: tuple = ()) -> tuple[str, list]:
    """The INSERT `instance.save(force_insert=True)` would send (field `pre_save` included),
    answering `returning` fields, as SQL and parameters for the caller to send itself."""
    meta = instance._meta
    fields = [field for field in meta.local_concrete_fields if not field.generated]
    if instance.pk is None:
        fields = [field for field in fields if field is not meta.auto_field]
    query = InsertQuery(type(instance))
    query.insert_values(fields, [instance])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = list(returning)
    ((sql, params),) = compiler.as_sql()
    return sql, list(params)


def organization_id_of(obj: models.Model) -> int | None:
    """The id of the organization that owns `obj`, read along its model's `TENANT_PATH`."""
    value = obj
    for part in type(obj).TENANT_PATH.split("__"):
        if value is None:
            return None
        value = getattr(value, part)
    return value


def tenant_filter(model: type[models.Model], organization_ids) -> dict:
    """The filter keeping `model`'s rows owned by any of `organization_ids`."""
    return {f"{model.TENANT_PATH}__in": organization_ids}


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AddressFields(models.Model):
    """The contract's address group; `postal_code` is exposed as `zip_code` on the wire."""

    address = models.TextField(null=True, blank=True)
    city = models.CharField(max_length=100, null=True, blank=True)
    state = models.CharField(max_length=100, null=True, blank=True)
    country = models.CharField(max_length=100, null=True, blank=True)
    postal_code = models.CharField(max_length=20, null=True, blank=True)

    class Meta:
        abstract = True


class ActiveStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"


class OrganizationScopedModel(TimeStampedModel):
    """A row owned by one organization (the tenant).

    Every tenant query filters on `organization_id`; the viewset base does it, so subclasses only
    declare their fields. `CODE_PREFIX` names the per-organization readable code (`CUS-000001`),
    generated on first save from a counter row so that concurrent inserts never collide.
    """

    CODE_PREFIX: str = ""
    #: How a row reaches its organization's id. Declared once per model and read by the scoped
    #: viewset base, the related-field checks and the services; a model owned through a parent
    #: (a pipeline's stages) overrides it.
    TENANT_PATH = "organization_id"
    #: The resource named by this model's domain events (`customer.created`); None when its
    #: plain writes record no event.
    EVENT_RESOURCE: str | None = None

    # Not indexed alone: every scoped model's indexes and constraints lead with it (each row
    # is read within its organization), and `tests/test_indexes.py` checks that they do.
    organization = models.ForeignKey(
        "crmApp.Organization",
        on_delete=models.CASCADE,
        related_name="%(class)ss",
        db_index=False,
    )

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.CODE_PREFIX and hasattr(self, "code") and not self.code:
            using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
            plain_insert = self._state.adding and self.pk is None and not args
            if (
                plain_insert
                and set(kwargs) <= {"using", "force_insert"}
                and connections[using].vendor == "postgresql"
            ):
                self._insert_with_next_code(using)
                return
            self.code = next_codes(organization_id=self.organization_id, prefix=self.CODE_PREFIX)[0]
        super().save(*args, **kwargs)

    def _insert_with_next_code(self, using: str) -> None:
        """Insert this new row with the next code of its organization in ONE statement.

        The counter's upsert (`NEXT_CODES_SQL`) runs as a CTE and the row's `code` is read
        from it inside the INSERT, so a create costs no round trip for its code; the counter
        row stays locked until the transaction ends, as with `next_codes`. PostgreSQL only;
        the values, defaults and `auto_now_add` times are those `save()` would send (the ORM
        compiles the INSERT), and `pre_save`/`post_save` are sent as `save()` sends them.
        """
        cls = type(self)
        pre_save.send(sender=cls, instance=self, raw=False, using=using, update_fields=None)
        code_field = self._meta.get_field("code")
        self.code = RawSQL(
            "SELECT %s || LPAD(last_value::text, GREATEST(6, LENGTH(last_value::text)), '0') "
            "FROM next_code",
            (f"{self.CODE_PREFIX}-",),
        )
        counter = (self.organization_id, self.CODE_PREFIX, 1)
        try:
            sql, params = insert_sql(self, using=using, returning=(self._meta.pk, code_field))
            with connections[using].cursor() as cursor:
                cursor.execute(f"WITH next_code AS ({NEXT_CODES_SQL}) {sql}", (*counter, *params))
                self.pk, self.code = cursor.fetchone()
        except BaseException:
            self.code = ""  # not the SQL expression: the row has no code until saved
            raise
        self._state.adding = False
        self._state.db = using
        post_save.send(
            sender=cls, instance=self, created=True, update_fields=None, raw=False, using=using
        )


class CodeSequence(models.Model):
    """Last code number handed out per organization and prefix (a counter row, locked on use)."""

    TENANT_PATH = "organization_id"

    # Looked up through uniq_code_sequence, which leads with it.
    organization = models.ForeignKey(
        "crmApp.Organization",
        on_delete=models.CASCADE,
        related_name="code_sequences",
        db_index=False,
    )
    prefix = models.CharField(max_length=10)
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "code_sequences"
        constraints = [
            models.UniqueConstraint(fields=["organization", "prefix"], name="uniq_code_sequence")
        ]

    def __str__(self) -> str:
        return f"{self.prefix} #{self.last_value}"


#: Create-or-increment the counter row in one statement (PostgreSQL; see next_codes).
NEXT_CODES_SQL = """
    INSERT INTO code_sequences (organization_id, prefix, last_value) VALUES (%s, %s, %s)
    ON CONFLICT (organization_id, prefix)
    DO UPDATE SET last_value = code_sequences.last_value + EXCLUDED.last_value
    RETURNING last_value
"""


def next_codes(*, organization_id: int, prefix: str, count: int = 1) -> list[str]:
    """Reserve `count` consecutive codes for an organization; safe under concurrent inserts.

    On PostgreSQL this is ONE statement, `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`: it
    creates the counter row on first use or increments it, and the row lock it takes is held until
    the caller's transaction ends, so concurrent writers serialize on the row and each gets its own
    block (no read-then-write window, no savepoint). It replaced get_or_create + UPDATE + SELECT
    (3 queries and a savepoint on the hottest row of every create; bench/RESULTS.md).
    Other databases keep that portable ORM path (SQLite serializes writers anyway).
    """
    connection = connections[router.db_for_write(CodeSequence)]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(NEXT_CODES_SQL, [organization_id, prefix, count])
            (last,) = cursor.fetchone()
    else:
        with transaction.atomic():
            CodeSequence.objects.get_or_create(organization_id=organization_id, prefix=prefix)
            CodeSequence.objects.filter(organization_id=organization_id, prefix=prefix).update(
                last_value=F("last_value") + count
            )
            last = CodeSequence.objects.get(
                organization_id=organization_id, prefix=prefix
            ).last_value
    return [f"{prefix}-{number:06d}" for number in range(last - count + 1, last + 1)]
