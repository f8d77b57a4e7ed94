"""The API's pagination: page numbers by default, keyset cursors on request.

Page numbers (`page`, `page_size`) are every list's default; their counts come from the
selectors (crmApp.selectors.counting). A list also accepts `?cursor=` (an empty value starts at
the first page): keyset pages in the list's default order that cost the same at any depth,
without a count, answered as `{"next", "previous", "results"}`, the shape of the event list,
which pages by cursor only. One cursor format serves both (`SignedCursorPagination`).
"""

from base64 import b64decode, b64encode
from urllib import parse

from django.core import signing
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.utils.urls import replace_query_param

from crmApp.exceptions import InvalidPage
from crmApp.selectors.counting import CachedCountPaginator

CURSOR_PARAM = "cursor"
INVALID_CURSOR = "Invalid cursor."
_CURSOR_SALT = "crmApp.pagination.cursor"


def _invalid_cursor() -> ValidationError:
    return ValidationError({CURSOR_PARAM: [INVALID_CURSOR]})


class SignedCursorPagination(CursorPagination):
    """DRF's cursor pagination with cursors signed by the server (opaque, tamper-safe).

    DRF's cursor is a base64 query string a client can edit into any position; a position the
    ordering field cannot parse then fails in the database. Here the cursor is that same
    content signed with SECRET_KEY: any change, or a cursor of another list (another salt per
    ordering), is a 400 in the error envelope, never a 404 or a 500.
    """

    cursor_query_param = CURSOR_PARAM
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def _signer(self) -> signing.Signer:
        return signing.Signer(salt=f"{_CURSOR_SALT}:{','.join(self.ordering)}")

    def decode_cursor(self, request):
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return None
        try:
            querystring = b64decode(self._signer().unsign(raw).encode("ascii")).decode("ascii")
            tokens = parse.parse_qs(querystring, keep_blank_values=True)
            offset = int(tokens.get("o", ["0"])[0])
            reverse = bool(int(tokens.get("r", ["0"])[0]))
            position = tokens.get("p", [None])[0]
        except (signing.BadSignature, ValueError, UnicodeError):
            raise _invalid_cursor() from None
        if not 0 <= offset <= self.offset_cutoff:
            raise _invalid_cursor()
        return Cursor(offset=offset, reverse=reverse, position=position)

    def encode_cursor(self, cursor):
        tokens = {}
        if cursor.offset != 0:
            tokens["o"] = str(cursor.offset)
        if cursor.reverse:
            tokens["r"] = "1"
        if cursor.position is not None:
            tokens["p"] = cursor.position
        querystring = parse.urlencode(tokens, doseq=True)
        signed = self._signer().sign(b64encode(querystring.encode("ascii")).decode("ascii"))
        return replace_query_param(self.base_url, self.cursor_query_param, signed)

    def paginate_queryset(self, queryset, request, view=None):
        # A fast list's rows are `values_list()` tuples (crmApp.selectors.rows.ListSpec): the
        # position is read from the column of the ordering's field.
        spec = getattr(getattr(view, "selector", None), "list_rows", None)
        self.row_paths = spec.paths if spec is not None else ()
        return super().paginate_queryset(queryset, request, view)

    def _get_position_from_instance(self, instance, ordering):
        if isinstance(instance, tuple):
            return str(instance[self.row_paths.index(ordering[0].lstrip("-"))])
        return super()._get_position_from_instance(instance, ordering)


#: Default list orders a keyset serves at constant cost (a unique key, one index).
KEYSET_ORDERINGS = (("id",), ("-id",))


class ListCursorPagination(SignedCursorPagination):
    """Keyset pages of a list in its default order, for `?cursor=` (lists ordered by id)."""

    ordering = ("id",)

    def get_ordering(self, request, queryset, view):
        ordering = tuple(getattr(view, "ordering", None) or ())
        if ordering not in KEYSET_ORDERINGS:
            raise ValidationError({CURSOR_PARAM: ["This list has no cursor pagination."]})
        self.ordering = ordering
        return ordering


class StandardPagination(PageNumberPagination):
    """`page`, `page_size` (default 25, capped at 100; zero, negative or junk fall back to 25);
    `?cursor=` instead of `page` for keyset pages (ListCursorPagination)."""

    django_paginator_class = CachedCountPaginator
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    cursor_class = ListCursorPagination

    def __init__(self):
        self.cursor_pages: ListCursorPagination | None = None

    @classmethod
    def wants_cursor(cls, request) -> bool:
        return CURSOR_PARAM in request.query_params

    def paginate_queryset(self, queryset, request, view=None):
        if self.wants_cursor(request):
            self.check_cursor_query(request)
            self.cursor_pages = self.cursor_class()
            return self.cursor_pages.paginate_queryset(queryset, request, view)
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:  # DRF's only refusal here: a page that does not exist
            raise InvalidPage(exc.detail) from None

    @staticmethod
    def check_cursor_query(request) -> None:
        """Cursor pages follow the default order and replace page numbers."""
        clashing = sorted({"page", "ordering"} & set(request.query_params))
        if clashing:
            message = "Not combinable with cursor pagination."
            raise ValidationError({name: [message] for name in clashing})

    def get_paginated_response(self, data):
        if self.cursor_pages is not None:
            return self.cursor_pages.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        # A `?cursor=` page has no `count`: only `results` is in every answer.
        paginated["required"] = ["results"]
        paginated["properties"]["count"]["description"] = (
            "Matching rows; present on page-number pages, absent from `?cursor=` pages."
        )
        return paginated

    def get_schema_operation_parameters(self, view):
        cursor = self.cursor_class().get_schema_operation_parameters(view)
        named = [p for p in cursor if p["name"] == CURSOR_PARAM]
        for parameter in named:
            parameter["description"] = (
                "Keyset pagination in the default order instead of page numbers: an empty "
                "value starts at the first page, `next`/`previous` carry the following ones. "
                "The answer then has no `count`."
            )
        return super().get_schema_operation_parameters(view) + named
