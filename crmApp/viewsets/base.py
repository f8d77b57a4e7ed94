"""The one scoping and permission base for organization-owned resources.

Every tenant queryset is built here: `get_queryset` asks the viewset's selector for the rows of
the organizations where the caller is an active member holding the resource's read permission
(narrowed further by the `X-Organization-ID` header or `?organization=`), shaped for the action.
Subclasses may not override `get_queryset`. Rows of other organizations are therefore simply not
found (404); `OrganizationPermission` checks writes against `PERMISSION_TABLE` for the row's own
organization; every write request runs in one transaction that is rolled back when the answer is
an error; creates, updates and deletes go through the viewset's services.
"""

from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from crmApp.pagination import StandardPagination
from crmApp.permissions import (
    Access,
    OrganizationPermission,
    deny_write,
    get_access,
    required_permissions,
    write_refusal,
)
from crmApp.selectors.base import ResourceSelector
from crmApp.serializers.base import represent

ORGANIZATION_HEADER = "HTTP_X_ORGANIZATION_ID"


def parse_id(raw, *, field: str) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise exceptions.ValidationError({field: ["A valid integer is required."]}) from None
    if not 0 < value < 2**63:
        raise exceptions.ValidationError({field: ["A valid integer is required."]})
    return value


class OrganizationHintSerializer(serializers.Serializer):
    """The organization a create body names, read before the body is validated."""

    organization = serializers.IntegerField(required=False, allow_null=True)


class MethodFirstMixin:
    """A method the route does not serve is a 405 (with `Allow`) before any permission check.

    DRF checks permissions before it looks for the method's handler; on a route without the
    method there is no action, the permission table has no row for it and every caller got a
    403, which says "your role" when the truth is "this route". Authentication still comes
    first (a bad token is a 401).
    """

    def check_permissions(self, request):
        if getattr(self, request.method.lower(), None) is None or (
            request.method.lower() not in self.http_method_names
        ):
            self.http_method_not_allowed(request)
        super().check_permissions(request)


class AtomicWritesMixin(MethodFirstMixin):
    """Run every unsafe request in a transaction; roll back when the response is an error."""

    def dispatch(self, request, *args, **kwargs):
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)
            return response


class OrganizationScopedMixin(AtomicWritesMixin):
    permission_classes = [OrganizationPermission]
    #: How this resource is read (crmApp.selectors); it also names the model.
    selector: ClassVar[ResourceSelector]
    ordering = ("id",)
    #: Extra (non-list) actions that also honour filters, search and ordering.
    filter_actions: tuple[str, ...] = ()
    #: Per-action serializer classes; "default" is the detail representation.
    serializer_classes: ClassVar[dict] = {}
    #: WIDENED VISIBILITY: actions that see every organization of an active membership (still
    #: narrowed by the header), not only those where the caller may read the resource. Used for
    #: writes whose permission check must answer 403 to a member rather than 404.
    visible_to_members: ClassVar[frozenset[str]] = frozenset()
    #: WIDENED VISIBILITY: self-service actions over the caller's own records in every
    #: organization of an active membership, whatever the header says.
    visible_across_memberships: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must shape reads in its selector, not get_queryset().")
        selector = cls.__dict__.get("selector")
        if selector is not None:
            # Only for DRF's and the schema's introspection; rows are read through the selector.
            cls.queryset = selector.model._default_manager.all()

    # --- the caller and the organizations a request acts on ---------------------------------

    @property
    def access(self) -> Access:
        return get_access(self.request)

    def narrowed_organization_ids(self) -> frozenset[int] | None:
        """The organization chosen by header or `?organization=`, if any."""
        raw = self.request.META.get(ORGANIZATION_HEADER) or self.request.query_params.get(
            "organization"
        )
        if raw in (None, ""):
            return None
        return frozenset({parse_id(raw, field="organization")})

    def default_organization_id(self) -> int | None:
        """Organization for a create that names none: the header's, else the only membership."""
        narrowed = self.narrowed_organization_ids()
        member = self.access.member_org_ids
        if narrowed is not None:
            (chosen,) = narrowed
            return chosen if chosen in member else None
        return next(iter(member)) if len(member) == 1 else None

    def read_permissions(self):
        return required_permissions(self.basename, "retrieve") or (("__none__", "view"),)

    def readable_organization_ids(self) -> frozenset[int]:
        access = self.access
        if self.action in self.visible_across_memberships:
            return access.member_org_ids
        if self.action in self.visible_to_members:
            orgs = access.member_org_ids
        else:
            orgs = access.orgs_with(self.read_permissions())
        narrowed = self.narrowed_organization_ids()
        return orgs & narrowed if narrowed is not None else orgs

    # --- querysets ----------------------------------------------------------------------------

    def get_queryset(self):
        visible = self.selector.visible(self.readable_organization_ids())
        return self.selector.for_action(visible, self.action)

    def get_object(self):
        """DRF's lookup by `lookup_field`, read through the selector (`read_one`): a value of
        the wrong type, like a missing row or another organization's, is a 404."""
        queryset = self.filter_queryset(self.get_queryset())
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        try:
            with self.selector.point_reads():
                obj = self.selector.read_one(
                    queryset.filter(**{self.lookup_field: lookup}), action=self.action
                )
        except (TypeError, ValueError, DjangoValidationError):
            raise Http404 from None
        if obj is None:
            raise Http404(f"No {queryset.model._meta.object_name} matches the given query.")
        self.check_object_permissions(self.request, obj)
        return obj

    # --- permissions --------------------------------------------------------------------------

    def required(self):
        return required_permissions(self.basename, self.action)

    def create_organization_hint(self) -> int | None:
        """The organization a create will write into, as far as it is known before validation."""
        form = OrganizationHintSerializer(data=self.request.data)
        if not form.is_valid():
            return None
        named = form.validated_data.get("organization")
        return named if named is not None else self.default_organization_id()

    def check_organization_write(self, organization_id: int, required=None) -> None:
        """Authoritative check for writes whose organization is known only after validation."""
        required = required if required is not None else self.required()
        deny_write(write_refusal(self.access, organization_id, required))

    # --- serializers and responses ----------------------------------------------------------

    def get_serializer_class(self):
        if self.serializer_classes:
            return self.serializer_classes.get(self.action, self.serializer_classes["default"])
        return super().get_serializer_class()

    def list(self, request, *args, **kwargs):
        """Lists whose selector has row specs skip model instances and the DRF serializer (same
        JSON, ~5x less CPU per page); the others take DRF's path."""
        spec = self.selector.list_rows
        if spec is None:
            return super().list(request, *args, **kwargs)
        scope = self.get_queryset()
        queryset = self.filter_queryset(scope)
        # Cursor pages count nothing, so a search needs no count-first path either.
        searched = bool(request.query_params.get("search", "").strip()) and not (
            StandardPagination.wants_cursor(request)
        )
        rows = self.selector.page_rows(queryset, searched=searched, scope=scope)
        page = self.paginate_queryset(rows)
        if page is None:
            return Response(spec.render(rows))
        return self.get_paginated_response(spec.render(page))

    def detail_data(self, instance, *, as_written: bool = False) -> dict:
        """The detail representation of a row just written (see `ResourceSelector.written`)."""
        return self.serialize_detail(self.selector.written(instance, as_written=as_written))

    def serialize_detail(self, instance) -> dict:
        """The detail representation of an instance whose relations are already loaded."""
        serializer_class = self.serializer_classes.get("default", self.serializer_class)
        return represent(serializer_class, instance, context=self.get_serializer_context())

    def retrieve(self, request, *args, **kwargs):
        return Response(self.serialize_detail(self.get_object()))


class OrganizationScopedViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """CRUD for an organization-owned model; create and update answer with the detail.

    The serializer validates; the subclass's `create_record`, `update_record` and
    `destroy_record` hand the validated data to the resource's services, the one write path.
    """

    def create_record(self, data: dict[str, Any]):
        raise NotImplementedError

    def update_record(self, instance, data: dict[str, Any]):
        raise NotImplementedError

    def destroy_record(self, instance) -> None:
        raise NotImplementedError

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_organization_write(serializer.organization_id)
        instance = self.create_record(dict(serializer.validated_data))
        return Response(self.detail_data(instance, as_written=True), status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        instance = self.update_record(instance, dict(serializer.validated_data))
        return Response(self.detail_data(instance))

    def perform_destroy(self, instance):
        self.destroy_record(instance)
