from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """`page` and `page_size` (default 25, capped at 100; zero, negative or junk fall back to 25)."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
