"""The API's page-number pagination (`page`, `page_size`); counts come from the selectors."""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination

from crmApp.exceptions import InvalidPage
from crmApp.selectors.counting import CachedCountPaginator


class StandardPagination(PageNumberPagination):
    """`page`, `page_size` (default 25, capped at 100; zero, negative or junk fall back to 25)."""

    django_paginator_class = CachedCountPaginator
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:  # DRF's only refusal here: a page that does not exist
            raise InvalidPage(exc.detail) from None
