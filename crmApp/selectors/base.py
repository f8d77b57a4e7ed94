"""The base of every resource's reads.

A selector answers, for one model: which rows an organization set may see, the queryset each
action reads (joins, column lists, prefetches, annotations), the rows a list page is built from,
and which row a write answers with. Viewsets ask their selector by action name; nothing here
knows about requests, DRF or serializers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model, QuerySet

from crmApp.db import prepared_statements
from crmApp.db_routing import read_alias
from crmApp.models.base import organization_id_of, tenant_filter
from crmApp.selectors.compiled import read_shaped
from crmApp.selectors.counting import searched_rows
from crmApp.selectors.relations import relations_loaded
from crmApp.selectors.rows import ListSpec


class ResourceSelector:
    """How one resource is read. Subclasses set `model` and refine `detail` (and `listing`)."""

    model: ClassVar[type[Model]]
    #: The list page's row spec (the fast path); None when lists serialize model instances.
    list_rows: ClassVar[ListSpec | None] = None
    #: Actions that read or write bare rows (aggregates, exports, bulk writes): no joins.
    plain_actions: ClassVar[frozenset[str]] = frozenset()
    #: Actions that read many rows and write nothing: with a read replica they may read it
    #: (crmApp.db_routing). Detail reads, and the reads of writes, stay on the primary.
    replica_actions: ClassVar[frozenset[str]] = frozenset({"list", "stats", "export_csv"})
    #: Whether `for_action` shapes every detail action's query the same way for every request
    #: (no per-request values outside the WHERE clause), so that `read_one` may reuse its SQL.
    fixed_detail_shapes: ClassVar[bool] = False

    def visible(self, organization_ids: Collection[int]) -> QuerySet:
        """Every row owned by one of `organization_ids`: the only way tenant rows are read."""
        return self.model._default_manager.filter(**tenant_filter(self.model, organization_ids))

    def for_action(self, queryset: QuerySet, action: str | None) -> QuerySet:
        """`queryset` (already limited to visible rows) shaped for `action`, on the database
        the action reads (see `replica_actions`)."""
        if action in self.replica_actions:
            alias = read_alias()
            if alias != DEFAULT_DB_ALIAS:
                queryset = queryset.using(alias)
        if action in self.plain_actions:
            return queryset
        if action == "list":
            return self.listing(queryset)
        return self.detail(queryset)

    def detail(self, queryset: QuerySet) -> QuerySet:
        """The joins and prefetches the detail representation reads."""
        return queryset

    def point_reads(self) -> AbstractContextManager[None]:
        """The context a read of one row by primary key runs in (the detail, and the read of a
        write's target): a prepared statement on PostgreSQL (`crmApp.db.prepared_statements`),
        whose plan cannot depend on the values; the same query elsewhere."""
        return prepared_statements()

    def read_one(self, queryset: QuerySet, *, action: str | None) -> Model | None:
        """The one row of `queryset` (shaped for `action`, filtered down to a primary key), or
        None. With `fixed_detail_shapes` its SQL is compiled once per action and WHERE clause
        (`crmApp.selectors.compiled`): a deal's joined read spent more compiling than running."""
        if not self.fixed_detail_shapes:
            try:
                return queryset.get()
            except queryset.model.DoesNotExist:
                return None
        rows = read_shaped(queryset, shape=(type(self), action))
        if len(rows) > 1:
            raise queryset.model.MultipleObjectsReturned
        return rows[0] if rows else None

    def listing(self, queryset: QuerySet) -> QuerySet:
        """The list's queryset. With a row spec the spec picks the columns (see `page_rows`)."""
        return queryset if self.list_rows is not None else self.detail(queryset)

    def page_rows(self, queryset: QuerySet, *, searched: bool, scope: QuerySet) -> Any:
        """What a fast list pages over: the spec's tuples of the filtered, ordered queryset,
        their count already known when the list is searched (see `searched_rows`). `scope`
        is the list before its filters and search."""
        assert self.list_rows is not None
        if searched:
            return searched_rows(queryset, self.list_rows.rows, scope=scope)
        return self.list_rows.rows(queryset)

    def written(self, instance: Model, *, as_written: bool = False) -> Model:
        """The row a write answers with, holding every relation the detail reads.

        `as_written=True` is the caller's word that `instance` is the row exactly as it was just
        saved (a create's own instance, the row a transition locked and updated), not a copy
        read before a service changed the row. It is then answered as it is when it already
        holds every relation the joins and prefetches would load, saving the joined read; the
        models have no database-side defaults, so the saved fields are what a read would return.
        Otherwise the row is read again with the detail's joins.
        """
        # Every tenant-owned model class declares TENANT_PATH (a test checks it), but `Model`'s
        # type cannot say so and a type cannot be both `type[Model]` and a protocol.
        tenant_path: str = self.model.TENANT_PATH  # type: ignore[attr-defined]
        if as_written and relations_loaded(instance, self._detail_shape()):
            return instance
        lookup = {tenant_path: organization_id_of(instance)}
        queryset = self.detail(self.model._default_manager.filter(pk=instance.pk, **lookup))
        # No `.first()`: a primary-key read needs no ORDER BY, and compiling one over the joins
        # cost more than the query itself.
        return self.read_one(queryset.order_by(), action="written") or instance

    def _detail_shape(self) -> QuerySet:
        """The detail's joins, prefetches and annotations over no rows in particular, built
        once per selector: `written` only inspects them (building them again per write cost
        more than the check)."""
        shape = self.__dict__.get("_shape")
        if shape is None:
            shape = self.__dict__["_shape"] = self.detail(self.model._default_manager.all())
        return shape

    def export_rows(self, queryset: QuerySet, *, limit: int) -> tuple[list[str], Iterator[tuple]]:
        """Every column of the first `limit` rows of `queryset`, streamed in chunks so that a
        full export keeps memory flat: the header (field names) and the rows."""
        fields = list(self.model._meta.concrete_fields)
        values = queryset.values_list(*[field.attname for field in fields])[:limit]
        return [field.name for field in fields], values.iterator(chunk_size=2000)


def external_id_taken(
    model: type[Model], organization_id: int, external_id: str, *, exclude_pk: int | None = None
) -> bool:
    """Whether another row of `model` in the organization has `external_id`."""
    rows = model._default_manager.filter(organization_id=organization_id, external_id=external_id)
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    return rows.exists()
