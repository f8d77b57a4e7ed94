"""Independent writes of one transaction sent to PostgreSQL as one statement.

A write records rows that nothing in its transaction reads afterwards: the domain event, the
audit row, a stage-history row. Each was its own round trip. Inside `statement_batch()` they are
queued instead (`batch_insert`, `batch_update_fields`, `batch_update`) and sent when the block
ends, on PostgreSQL as one statement of data-modifying CTEs (`WITH w0 AS (INSERT ...), w1 AS
(UPDATE ...) SELECT ...`), elsewhere one by one in order through the ORM. The SQL is what the
ORM itself compiles for the same save, so both paths write the same values
(`tests/services/test_statement_batch.py`).

The queued writes must not depend on each other: PostgreSQL runs a statement's CTEs against one
snapshot in no promised order, so one may not read or collide with another's row (the close of a
deal's open stage-history row and the insert of its next one go in separate batches). Outside a
batch each call writes at once, so a caller never needs to know whether one is open. An
exception inside the block drops the queue with the transaction it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple, TypeVar, cast

from django.db import connections, router
from django.db.models import Model, Q, QuerySet
from django.db.models.sql import UpdateQuery

from crmApp.db import prepared_statements
from crmApp.models.base import insert_sql


class _Write(NamedTuple):
    """One queued write: its table's model (which database), its SQL for PostgreSQL (compiled
    when sent, for the database it goes to), the same write through the ORM, and the instance
    that gets the inserted row's primary key (None when nothing is returned)."""

    model: type[Model]
    compile: Callable[[str], tuple[str, list]]
    orm: Callable[[], Any]
    returns_pk_of: Model | None


class _Batch:
    def __init__(self) -> None:
        self.writes: list[_Write] = []

    def flush(self) -> None:
        writes, self.writes = self.writes, []
        if not writes:
            return
        alias = router.db_for_write(writes[0].model)
        connection = connections[alias]
        if len(writes) == 1 or connection.vendor != "postgresql":
            for write in writes:
                write.orm()
            return
        parts, params, returning = [], [], []
        for index, write in enumerate(writes):
            sql, part_params = write.compile(alias)
            parts.append(f"w{index} AS ({sql})")
            params.extend(part_params)
            if write.returns_pk_of is not None:
                returning.append((index, write.returns_pk_of))
        pk_column = connection.ops.quote_name
        selects = ", ".join(
            f"(SELECT {pk_column(str(instance._meta.pk.column))} FROM w{index})"
            for index, instance in returning
        )
        # Prepared: a kind of write sends the same statement text every time, and planning its
        # CTEs cost more than running them.
        with prepared_statements(alias), connection.cursor() as cursor:
            cursor.execute(f"WITH {', '.join(parts)} SELECT {selects or '1'}", params)
            row = cursor.fetchone()
        for (_index, instance), pk in zip(returning, row, strict=False):
            instance.pk = pk
            instance._state.adding = False
            instance._state.db = alias


_current: ContextVar[_Batch | None] = ContextVar("statement_batch", default=None)


@contextmanager
def statement_batch() -> Iterator[None]:
    """Queue the batchable writes of the block and send them together when it ends.

    Nested blocks join the outer one (which sends everything at its end).
    """
    if _current.get() is not None:
        yield
        return
    batch = _Batch()
    token = _current.set(batch)
    try:
        yield
    finally:
        _current.reset(token)
    batch.flush()


def _insert_sql(instance: Model):
    def compile_sql(alias: str) -> tuple[str, list]:
        return insert_sql(instance, using=alias, returning=(instance._meta.pk,))

    return compile_sql


M = TypeVar("M", bound=Model)


def batch_insert(instance: M) -> M:
    """Insert `instance` (as `save(force_insert=True)` does); its pk is set once it is sent."""
    batch = _current.get()
    if batch is None:
        instance.save(force_insert=True)
    else:
        batch.writes.append(
            _Write(
                type(instance),
                _insert_sql(instance),
                lambda: instance.save(force_insert=True),
                instance if instance.pk is None else None,
            )
        )
    return instance


def _update_sql(model: type[Model], where: Q, values: list[tuple[Any, Any, Any]]):
    def compile_sql(alias: str) -> tuple[str, list]:
        query = UpdateQuery(model)
        query.add_update_fields(values)
        query.add_q(where)
        sql, params = query.get_compiler(using=alias).as_sql()
        return sql, list(params)

    return compile_sql


def batch_update_fields(instance: Model, fields: Iterable[str]) -> None:
    """`instance.save(update_fields=fields)` for a row that exists (a locked one): the fields'
    `pre_save` runs now (`auto_now` timestamps), the UPDATE is sent with the batch.

    Model `save()` overrides do not run: the caller does what they would (for a deal,
    `refresh_expected_revenue`) and names every column that changes.
    """
    batch = _current.get()
    names = set(fields)
    if batch is None:
        instance.save(update_fields=names)
        return
    meta = instance._meta
    values = [
        (field, None, field.pre_save(instance, False))
        for field in meta.local_concrete_fields
        if field.name in names or field.attname in names
    ]
    batch.writes.append(
        _Write(
            type(instance),
            _update_sql(type(instance), Q(pk=instance.pk), values),
            lambda: (
                type(instance)
                ._base_manager.filter(pk=instance.pk)
                .update(**{field.attname: value for field, _model, value in values})
            ),
            None,
        )
    )


def batch_update(queryset: QuerySet, **values: Any) -> None:
    """`queryset.update(**values)` sent with the batch (the filter is compiled when it is sent)."""
    batch = _current.get()
    if batch is None:
        queryset.update(**values)
        return

    def compile_sql(alias: str) -> tuple[str, list]:
        query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
        query.add_update_values(values)
        sql, params = query.get_compiler(using=alias).as_sql()
        return sql, list(params)

    batch.writes.append(
        _Write(queryset.model, compile_sql, lambda: queryset.update(**values), None)
    )


def batch_sql(
    model: type[Model], sql: str, params: list[Any], *, elsewhere: Callable[[], None]
) -> None:
    """A write of `model`'s table as PostgreSQL SQL (`sql` with `params`, one statement with no
    RETURNING), sent with the batch; `elsewhere()` makes the same change where the batch goes
    through the ORM (another database, a batch of one) or on another database outside one.
    Like every queued write it must not depend on the others of its batch: it sees the
    database as it was before the batch's statement."""
    batch = _current.get()
    if batch is not None:
        batch.writes.append(_Write(model, lambda _alias: (sql, list(params)), elsewhere, None))
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        elsewhere()
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
