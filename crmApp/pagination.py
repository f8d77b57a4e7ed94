"""Page-number pagination whose `count` stays cheap on huge tenants.

Django's paginator runs `SELECT COUNT(*)` over the whole filtered list on every page; on a
1M-row organization that one query costs more than the rest of the request (PITFALLS: 24 req/s,
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
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework.pagination import PageNumberPagination

DEFAULT_EXACT_COUNT_LIMIT = 10_000
DEFAULT_COUNT_CACHE_SECONDS = 60


def count_cache_key(queryset: QuerySet) -> str:
    """A key naming the row set: the unordered list query's SQL and parameters, per database."""
    sql, params = queryset.order_by().query.sql_with_params()
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


def cached_if_large(queryset: QuerySet, name: str, compute: Callable[[QuerySet], dict], size):
    """`compute(queryset)`, reused for a while when the figures cover a huge list.

    For stats endpoints: exact and fresh while `size(result)` stays within
    `PAGINATION_EXACT_COUNT_LIMIT` (every small tenant); above it, the result is cached for
    `PAGINATION_COUNT_CACHE_SECONDS` under the list's SQL, like a large count, because
    aggregating hundreds of thousands of rows on every request cannot keep latency low.
    A cache miss costs no extra query.
    """
    limit = getattr(settings, "PAGINATION_EXACT_COUNT_LIMIT", DEFAULT_EXACT_COUNT_LIMIT)
    if limit <= 0:
        return compute(queryset)
    try:
        key = f"{count_cache_key(queryset)}:{name}"
    except EmptyResultSet:
        return compute(queryset)
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = compute(queryset)
    if size(result) > limit:
        timeout = getattr(settings, "PAGINATION_COUNT_CACHE_SECONDS", DEFAULT_COUNT_CACHE_SECONDS)
        cache.set(key, result, timeout)
    return result


class CachedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        # A values_list() page (crmApp.serializers.fast) counts its plain model queryset: the
        # same SQL, cache key and plan as DRF's path, without the page's joins and columns.
        return list_count(getattr(self.object_list, "count_queryset", self.object_list))

    def page(self, number):
        """Slice a full page even past a cached count that lags behind new rows.

        Django clips the last page's slice to `count`; with a cached count that would hide rows
        inserted since it was taken. Without orphans the slice is otherwise the same.
        """
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if self.orphans:
            return super().page(number)
        return self._get_page(self.object_list[bottom:top], number, self)


class StandardPagination(PageNumberPagination):
    """`page`, `page_size` (default 25, capped at 100; zero, negative or junk fall back to 25)."""

    django_paginator_class = CachedCountPaginator
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
