"""Counting and paging list querysets so that `count` stays cheap on huge tenants.

Django's paginator runs `SELECT COUNT(*)` over the whole filtered list on every page; on a
1M-row organization that one query costs more than the rest of the request (measured: 24 req/s,
p99 765 ms). Here the count is taken in two steps:

1. a capped count, `COUNT(*)` over at most `PAGINATION_EXACT_COUNT_LIMIT + 1` rows: below the cap
   (every small tenant, every selective filter or search) the answer is exact and never cached;
2. above the cap, the full count is run once and cached for `PAGINATION_COUNT_CACHE_SECONDS`,
   keyed by the SQL and parameters of the list query (so by organization, filters and search).
   Later pages and later requests reuse it without any count query.

A cached large count can lag behind inserts and deletes by the cache lifetime; clients see the
same response shape (`count`, `next`, `previous`, `results`) and a count that is exact for lists
under the cap. `PAGINATION_EXACT_COUNT_LIMIT = 0` restores an exact count on every page.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache, caches
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db.models import BigIntegerField, ExpressionWrapper, F, IntegerField, QuerySet
from django.db.models.expressions import Combinable, RawSQL
from django.utils.functional import cached_property

from crmApp.cache import FailoverRedisCache
from crmApp.selectors.compiled import with_sql

T = TypeVar("T")

DEFAULT_EXACT_COUNT_LIMIT = 10_000
DEFAULT_COUNT_CACHE_SECONDS = 60

#: Attributes a list's row queryset may carry for CachedCountPaginator: the count already taken
#: for this request, and the plain model queryset to count instead of the rows' own (joins and
#: columns). QuerySet declares neither, so they are set with setattr under these names.
KNOWN_COUNT = "known_count"
COUNT_QUERYSET = "count_queryset"


def count_cache_key(queryset: QuerySet) -> str:
    """A key naming the row set: the SQL and parameters of its unordered ids, per database.

    Only the ids: the FROM and WHERE that pick the rows are all of it, and compiling the full
    select (every column of every `select_related` join) cost up to 0.5 ms per request.
    """
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    digest = hashlib.sha256(repr((queryset.db, sql, params)).encode()).hexdigest()
    return f"crm:list-count:{digest}"


def list_count(queryset) -> int:
    """Exact below the cap; above it, an exact count cached for a short while (see module doc)."""
    if not isinstance(queryset, QuerySet):
        return len(queryset)
    limit = getattr(settings, "PAGINATION_EXACT_COUNT_LIMIT", DEFAULT_EXACT_COUNT_LIMIT)
    if limit <= 0:
        return queryset.count()
    try:
        key = count_cache_key(queryset)
    except EmptyResultSet:  # e.g. `organization_id IN ()`: nothing to count
        return 0
    cached = cache.get(key)
    if cached is not None:
        return cached
    capped = queryset.order_by()[: limit + 1].count()
    if capped <= limit:
        return capped
    total = queryset.count()
    timeout = getattr(settings, "PAGINATION_COUNT_CACHE_SECONDS", DEFAULT_COUNT_CACHE_SECONDS)
    cache.set(key, total, timeout)
    return total


#: Searches matching at most this many rows are sorted after the match (see search_ordering).
SEARCH_SORT_LIMIT = 5_000


def search_ordering(queryset: QuerySet) -> tuple[QuerySet, int]:
    """A searched list's count, and the list ordered so that PostgreSQL uses the search indexes.

    In id order the planner may walk the primary key and test every row against the search
    (measured at 1M rows: 15 ms for a term matching 947 leads; a flip that depends on the
    statistics sample) instead of collecting the matches from the trigram indexes and sorting
    them (3 ms). When the count (taken first anyway) is small, the id terms become `id + 0`, the
    same order that no index serves, which leaves the index-driven plan; a broad term keeps the
    primary-key walk, which is the fast plan when most rows match (0.1 ms vs 100 ms for `e`).
    """
    count = list_count(queryset)
    if count > SEARCH_SORT_LIMIT:
        return queryset, count
    ordering: list[str | Combinable] = []
    for term in queryset.query.order_by:
        if isinstance(term, str) and term.lstrip("-") in ("id", "pk"):
            same_order = ExpressionWrapper(F("pk") + 0, output_field=BigIntegerField())
            ordering.append(same_order.desc() if term.startswith("-") else same_order.asc())
        else:
            ordering.append(term)
    return queryset.order_by(*ordering), count


def cached_if_large(queryset: QuerySet, name: str, compute: Callable[[QuerySet], dict], size):
    """`compute(queryset)`, reused for a while when the figures cover a huge list.

    For stats endpoints: exact and fresh while `size(result)` stays within
    `PAGINATION_EXACT_COUNT_LIMIT` (every small tenant); above it, the result is cached for
    `PAGINATION_COUNT_CACHE_SECONDS` under the list's SQL, like a large count, because
    aggregating hundreds of thousands of rows on every request cannot keep latency low.
    A cache miss costs no extra query.
    """
    try:
        key = f"{count_cache_key(queryset)}:{name}"
    except EmptyResultSet:
        return compute(queryset)
    return cached_figures(key, lambda: compute(queryset), size)


def cached_figures(
    key: str,
    compute: Callable[[], T],
    size: Callable[[T], int],
    *,
    versioned_by: Collection[int] | None = None,
) -> T:
    """`compute()`, cached under `key` when `size` of its result (the rows it summed) is above
    `PAGINATION_EXACT_COUNT_LIMIT`: figures of small tenants stay exact and fresh, those of
    huge ones are reused for `PAGINATION_COUNT_CACHE_SECONDS` (see `cached_if_large`).

    With `versioned_by` (the organizations the figures cover), small figures are cached too,
    with the organizations' version (`tenant_version`): a write to any of them makes the next
    request compute them afresh, so they stay exact while sparing the work of repeated reads.
    A hit is one read of the cache: the figures of either kind and the versions together.
    """
    limit = getattr(settings, "PAGINATION_EXACT_COUNT_LIMIT", DEFAULT_EXACT_COUNT_LIMIT)
    if limit <= 0:
        return compute()
    versioned_key = f"{key}:versioned"
    version_keys = _version_keys(versioned_by) if versioned_by is not None else []
    found = cache.get_many([key, versioned_key, *version_keys] if version_keys else [key])
    if key in found:
        return found[key]
    version = _version(found, version_keys) if version_keys else None
    cached = _of_version(found.get(versioned_key), version)
    if cached is not None:
        return cached
    # Claimed only where any result is cached (versioned figures are, whatever their size), so
    # a process waiting for another's result finds it.
    claimed = _computing(f"{versioned_key}:{version}") if version else nullcontext(None)
    with claimed as claim:
        if claim is not None:
            cached = _waited_for(key, versioned_key, version, claim)
            if cached is not None:
                return cached
        result = compute()
        timeout = getattr(settings, "PAGINATION_COUNT_CACHE_SECONDS", DEFAULT_COUNT_CACHE_SECONDS)
        if size(result) > limit:
            cache.set(key, result, timeout)
        elif version is not None:
            cache.set(versioned_key, (version, result), timeout)
    return result


def _of_version(entry: Any, version: str | None) -> Any:
    """The figures of a versioned entry when they are of `version`, else None."""
    if version is None or not isinstance(entry, tuple) or entry[0] != version:
        return None
    return entry[1]


#: How long a process waits for figures another one is computing before computing them too,
#: and how often it looks (see `_computing`).
COMPUTE_WAIT_SECONDS = 10.0
COMPUTE_POLL_SECONDS = 0.01


@contextmanager
def _computing(key: str) -> Iterator[str | None]:
    """Claim the computation of the figures named `key`; yields the claim's key when another
    process holds it, else None. A miss of figures read by many clients at once (every
    worker's first request) was computed by each worker at the same time on the same cores,
    each twice as slowly, and the queued requests waited for both (bench/REPORTS.md): with
    Redis one computes, the others wait for its result. The claim expires on its own should its
    holder die."""
    backend = shared_cache()
    if backend is None or backend.degraded:
        yield None
        return
    claim = f"{key}:computing"
    held = backend.add(claim, 1, timeout=int(COMPUTE_WAIT_SECONDS) * 3)
    try:
        yield None if held else claim
    finally:
        if held:
            backend.delete(claim)


def _waited_for(key: str, versioned_key: str, version: str | None, claim: str) -> Any:
    """The figures another process is computing, once cached; None when it gave up its claim
    without them (it failed) or after `COMPUTE_WAIT_SECONDS`: the caller computes them then."""
    deadline = time.monotonic() + COMPUTE_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(COMPUTE_POLL_SECONDS)
        found = cache.get_many([key, versioned_key, claim])
        if key in found:
            return found[key]
        cached = _of_version(found.get(versioned_key), version)
        if cached is not None or claim not in found:
            return cached
    return None


def tenant_version_key(organization_id: int) -> str:
    return f"crm:tenant-version:{organization_id}"


def shared_cache() -> FailoverRedisCache | None:
    """The cache when it is Redis, shared by every process of the deployment; else None."""
    backend = caches["default"]
    return backend if isinstance(backend, FailoverRedisCache) else None


def tenant_version(organization_ids: Collection[int]) -> str | None:
    """A token naming the current state of the organizations' rows, or None when no token can
    be trusted. Every audited write replaces its organization's token after its commit
    (`services.audit`), so figures cached with a token are never served after a change.

    Only a shared cache (Redis) can carry tokens: with process-local memory, or Redis'
    local fallback while it is unreachable, a write in one process would leave other
    processes' tokens unchanged. A write whose replacement is lost (Redis down at that moment)
    leaves figures at most `PAGINATION_COUNT_CACHE_SECONDS` old, as for huge tenants.
    """
    keys = _version_keys(organization_ids)
    return _version(cache.get_many(keys), keys) if keys else None


def _version_keys(organization_ids: Collection[int]) -> list[str]:
    """The organizations' token keys; none where no token can be trusted (`tenant_version`)."""
    backend = shared_cache()
    if backend is None or backend.degraded:
        return []
    return [tenant_version_key(pk) for pk in sorted(organization_ids)]


def _version(found: dict[str, Any], keys: list[str]) -> str | None:
    """The version named by the tokens under `keys` (`found` holds those read), creating the
    missing ones."""
    backend = shared_cache()
    if backend is None:
        return None
    tokens = {key: found[key] for key in keys if key in found}
    for key in keys:
        if key not in tokens:  # never written, or evicted: a new token, so nothing is cached
            backend.add(key, secrets.token_hex(8), timeout=None)
            tokens[key] = backend.get(key)
    if backend.degraded or any(tokens.get(key) is None for key in keys):
        return None
    return hashlib.sha256("|".join(tokens[key] for key in keys).encode()).hexdigest()[:32]


#: List orderings a search's matching ids can serve directly (see matching_ids).
ID_ORDERINGS: dict[tuple[object, ...], bool] = {
    ("id",): False,
    ("pk",): False,
    ("-id",): True,
    ("-pk",): True,
}


def matching_ids(queryset: QuerySet) -> list[int] | None:
    """All ids a narrow search matches, in list order; None when that does not apply.

    Why: a searched page used to scan the trigram indexes and recheck the heap twice, once to
    count the matches and once for the page (1M rows, `davis`: 2.0 + 2.6 ms). Reading the ids
    once (at most SEARCH_SORT_LIMIT + 1 of them) gives the exact count, and the page's rows are
    then fetched by primary key (MatchedRows), so the matches are scanned once. It applies to
    lists in id order (the default) whose search matches at most SEARCH_SORT_LIMIT rows; other
    orderings, and broad searches (a cached large count, or more ids than the limit), take
    search_ordering's count-then-page path.
    """
    descending = ID_ORDERINGS.get(tuple(queryset.query.order_by))
    if descending is None:
        return None
    try:
        if cache.get(count_cache_key(queryset)) is not None:
            return None  # a broad search counted recently
    except EmptyResultSet:
        return []
    ids = list(queryset.order_by().values_list("pk", flat=True)[: SEARCH_SORT_LIMIT + 1])
    if len(ids) > SEARCH_SORT_LIMIT:
        return None
    ids.sort(reverse=descending)
    return ids


class MatchedRows:
    """A searched list whose matching ids are known: its length is their number, and a slice
    reads just that slice's rows by primary key, with the list's own filters and columns."""

    def __init__(self, rows: QuerySet, ids: list[int]):
        self.rows, self.ids = rows, ids
        self.known_count = len(ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: slice) -> list:
        wanted = self.ids[index]
        return list(self.rows.filter(pk__in=wanted)) if wanted else []

    def __iter__(self):
        return iter(self[:])


#: The common table of `SearchedPage`'s statement: the narrow search's ids.
SEARCHED_IDS = "searched_ids"


class SearchedPage:
    """A narrow search's page and its exact count in one statement, when the page is known
    before the count (`plan`, called by CachedCountPaginator.page).

    Why: reading every matching id to count them, then the page's rows by id, took two
    statements and the transfer of up to SEARCH_SORT_LIMIT ids (1M customers, `davis`: 947 ids
    for a page of 50). Here the ids stay in the database: a common table holds at most
    SEARCH_SORT_LIMIT + 1 of them, the page's ids are picked from it in list order, and its
    rows come with that number. A search matching more, an empty page (no row to carry the
    count), or a page that was not planned take `matching_ids` / `search_ordering` instead.
    """

    def __init__(
        self,
        queryset: QuerySet,
        rows_of: Callable[[QuerySet], QuerySet],
        *,
        scope: QuerySet,
        descending: bool,
    ):
        self.queryset, self.rows_of, self.descending = queryset, rows_of, descending
        self.scope = scope
        self.planned: tuple[int, int] | None = None
        self.page: list | None = None
        self.count: int | None = None
        self.fallback: MatchedRows | QuerySet | None = None

    def plan(self, bottom: int, top: int) -> None:
        """The slice the paginator will ask for, told before it asks for the count."""
        if self.count is None and self.fallback is None:
            self.planned = (bottom, top)

    @property
    def known_count(self) -> int:
        return len(self)

    def _read_planned_page(self, bottom: int, top: int) -> None:
        direction = "DESC" if self.descending else "ASC"
        ids = self.queryset.order_by().values_list("pk")[: SEARCH_SORT_LIMIT + 1]
        page_ids = RawSQL(
            f"SELECT id FROM {SEARCHED_IDS} ORDER BY id {direction} LIMIT %s OFFSET %s",
            (top - bottom, bottom),
        )
        total = RawSQL(f"SELECT COUNT(*) FROM {SEARCHED_IDS}", (), output_field=IntegerField())
        # The page's rows by id within the list's scope, not searched again: the planner would
        # otherwise scan the search's matches a second time instead of reading 50 rows by key.
        in_page = self.scope.filter(pk__in=page_ids).order_by(*self.queryset.query.order_by)
        rows = self.rows_of(in_page).annotate(**{SEARCHED_IDS: total})

        def with_searched_ids(compiler, own_as_sql) -> tuple[str, tuple]:
            ids_sql, ids_params = ids.query.get_compiler(using=rows.db).as_sql()
            sql, params = own_as_sql()
            return f"WITH {SEARCHED_IDS} (id) AS ({ids_sql}) {sql}", (*ids_params, *params)

        read = list(with_sql(rows, with_searched_ids))
        if read and read[0][-1] <= SEARCH_SORT_LIMIT:
            self.count = read[0][-1]
            self.page = [row[:-1] for row in read]

    def _fall_back(self) -> MatchedRows | QuerySet:
        if self.fallback is None:
            ids = matching_ids(self.queryset)
            if ids is not None:
                self.fallback = MatchedRows(self.rows_of(self.queryset), ids)
            else:
                self.fallback = _count_then_page(self.queryset, self.rows_of)
        return self.fallback

    def __len__(self) -> int:
        if self.count is None and self.fallback is None and self.planned is not None:
            self._read_planned_page(*self.planned)
        if self.count is not None:
            return self.count
        return list_count(self._fall_back())

    def __getitem__(self, index: slice) -> list:
        len(self)
        if self.page is not None and (index.start or 0, index.stop) == self.planned:
            return self.page
        return list(self._fall_back()[index])

    def __iter__(self):
        return iter(self[:])


def _count_then_page(queryset: QuerySet, rows_of: Callable[[QuerySet], QuerySet]) -> QuerySet:
    """The searched rows in `search_ordering`'s order, with its count known."""
    queryset, count = search_ordering(queryset)
    rows = rows_of(queryset)
    setattr(rows, KNOWN_COUNT, count)
    return rows


def _counted_recently(queryset: QuerySet) -> bool:
    """Whether the search's count is cached: a broad search (see list_count)."""
    try:
        return cache.get(count_cache_key(queryset)) is not None
    except EmptyResultSet:
        return True  # nothing can match: the plain path answers without a query


def searched_rows(queryset: QuerySet, rows_of: Callable[[QuerySet], QuerySet], *, scope: QuerySet):
    """What a searched list pages over: `rows_of` (the list's row query) of the searched
    queryset, with its count known (see SearchedPage, matching_ids and search_ordering).
    `scope` is the list before filters and search: the rows a page may show."""
    descending = ID_ORDERINGS.get(tuple(queryset.query.order_by))
    if descending is not None and not _counted_recently(queryset):
        return SearchedPage(queryset, rows_of, scope=scope, descending=descending)
    return _count_then_page(queryset, rows_of)


class CachedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        # A values_list() page (crmApp.selectors.rows) counts its plain model queryset: the
        # same SQL, cache key and plan as DRF's path, without the page's joins and columns.
        known = getattr(self.object_list, KNOWN_COUNT, None)
        if known is not None:  # already counted for this request (search_ordering)
            return known
        return list_count(getattr(self.object_list, COUNT_QUERYSET, self.object_list))

    def page(self, number):
        """Slice a full page even past a cached count that lags behind new rows.

        Django clips the last page's slice to `count`; with a cached count that would hide rows
        inserted since it was taken. Without orphans the slice is otherwise the same.

        A list that reads its page together with its count (`SearchedPage`) is told the slice
        first.
        """
        plan = getattr(self.object_list, "plan", None)
        if plan is not None and not self.orphans:
            wanted = int(number) if str(number).isdigit() else 0
            if wanted >= 1:
                plan((wanted - 1) * self.per_page, wanted * self.per_page)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if self.orphans:
            return super().page(number)
        return self._get_page(self.object_list[bottom:top], number, self)
