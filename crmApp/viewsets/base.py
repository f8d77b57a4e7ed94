"""The one scoping and permission base for organization-owned resources.

Every tenant queryset is built here: `get_queryset` keeps only rows of organizations where the
caller is an active member holding the resource's read permission (narrowed further by the
`X-Organization-ID` header or `?organization=`). Subclasses may not override `get_queryset`;
they refine it with `scope_queryset`. Rows of other organizations are therefore simply not found
(404), writes are checked against `PERMISSION_TABLE` for the row's own organization, and every
write request runs in one transaction that is rolled back when the answer is an error.
"""

from django.db import transaction
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from crmApp.pagination import searched_rows
from crmApp.permissions import (
    SELF_SERVICE,
    Access,
    TablePermission,
    get_access,
    required_permissions,
)
from crmApp.relations import relations_loaded
from crmApp.serializers.base import represent
from crmApp.serializers.fast import list_spec_for

ORGANIZATION_HEADER = "HTTP_X_ORGANIZATION_ID"
INACTIVE_ORGANIZATION = "This organization is inactive; its records are read-only."


def parse_id(raw, *, field: str) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise exceptions.ValidationError({field: ["A valid integer is required."]}) from None
    if not 0 < value < 2**63:
        raise exceptions.ValidationError({field: ["A valid integer is required."]})
    return value


class AtomicWritesMixin:
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
    #: Path from the model to its organization id (stages: "pipeline__organization_id").
    organization_lookup = "organization_id"
    permission_classes = [TablePermission]
    ordering = ("id",)
    #: Extra (non-list) actions that also honour filters, search and ordering.
    filter_actions: tuple[str, ...] = ()
    #: Per-action serializer classes; "default" is the detail representation.
    serializer_classes: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must refine scope_queryset(), not get_queryset().")

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
        orgs = self.access.orgs_with(self.read_permissions())
        narrowed = self.narrowed_organization_ids()
        return orgs & narrowed if narrowed is not None else orgs

    # --- querysets ----------------------------------------------------------------------------

    def get_queryset(self):
        lookup = f"{self.organization_lookup}__in"
        queryset = self.queryset.filter(**{lookup: self.readable_organization_ids()})
        return self.scope_queryset(queryset)

    def scope_queryset(self, queryset):
        """Refine the already scoped queryset (select_related, annotations per action)."""
        return queryset

    def organization_id_of(self, obj) -> int:
        value = obj
        for part in self.organization_lookup.split("__"):
            value = getattr(value, part)
        return value

    # --- permissions --------------------------------------------------------------------------

    def required(self):
        return required_permissions(self.basename, self.action)

    def check_permissions(self, request):
        super().check_permissions(request)
        required = self.required()
        if required == SELF_SERVICE or self.detail:
            return  # object-level check follows in check_object_permissions
        access = self.access
        if self.action == "create":
            hinted = self.create_organization_hint()
            if hinted is not None and hinted in access.member_org_ids:
                if not access.has(hinted, required):
                    self.permission_denied(request)
                if hinted not in access.active_org_ids:
                    self.permission_denied(request, message=INACTIVE_ORGANIZATION)
        if not access.orgs_with(required):
            self.permission_denied(request)

    def create_organization_hint(self) -> int | None:
        data = self.request.data if isinstance(self.request.data, dict) else {}
        raw = data.get("organization")
        try:
            return int(raw) if raw not in (None, "") else self.default_organization_id()
        except (TypeError, ValueError):
            return None

    def check_object_permissions(self, request, obj):
        super().check_object_permissions(request, obj)
        required = self.required()
        if required == SELF_SERVICE:
            return
        organization_id = self.organization_id_of(obj)
        if not self.access.has(organization_id, required):
            self.permission_denied(request)
        if request.method not in SAFE_METHODS and organization_id not in self.access.active_org_ids:
            self.permission_denied(request, message=INACTIVE_ORGANIZATION)

    def check_organization_write(self, organization_id: int, required=None) -> None:
        """Authoritative check for writes whose organization is known only after validation."""
        required = required if required is not None else self.required()
        if not self.access.has(organization_id, required):
            self.permission_denied(self.request)
        if organization_id not in self.access.active_org_ids:
            self.permission_denied(self.request, message=INACTIVE_ORGANIZATION)

    # --- serializers and responses ----------------------------------------------------------

    def get_serializer_class(self):
        if self.serializer_classes:
            return self.serializer_classes.get(self.action, self.serializer_classes["default"])
        return super().get_serializer_class()

    def list(self, request, *args, **kwargs):
        """Lists with a spec in `crmApp.serializers.fast` skip model instances and the DRF
        serializer (same JSON, ~5x less CPU per page); the others take DRF's path."""
        spec = list_spec_for(self.get_serializer_class())
        if spec is None:
            return super().list(request, *args, **kwargs)
        queryset = self.filter_queryset(self.get_queryset())
        if request.query_params.get("search", "").strip():
            rows = searched_rows(queryset, spec.rows)
        else:
            rows = spec.rows(queryset)
        page = self.paginate_queryset(rows)
        if page is None:
            return Response(spec.render(rows))
        return self.get_paginated_response(spec.render(page))

    def detail_data(self, instance, *, as_written: bool = False) -> dict:
        """The detail representation of a row just written, re-read with the detail's joins.

        `as_written=True` is the caller's word that `instance` is the row exactly as it was just
        saved (a create's own instance, the row a transition locked and updated), not a copy
        read before a service changed the row. It is then served as it is when it already holds
        every relation the joins and prefetches would load (a create's validated relations, a
        transition's carried-over ones), saving the joined read; the models have no
        database-side defaults, so the saved fields are what a read would return.
        """
        lookup = {f"{self.organization_lookup}": self.organization_id_of(instance)}
        queryset = self.scope_queryset(self.queryset.filter(pk=instance.pk, **lookup))
        if as_written and relations_loaded(instance, queryset):
            return self.serialize_detail(instance)
        # Sliced, not `.first()`: a primary-key read needs no ORDER BY, and compiling one over
        # the joins cost more than the query itself.
        return self.serialize_detail(next(iter(queryset.order_by()[:1]), instance))

    def serialize_detail(self, instance) -> dict:
        """The detail representation of an instance whose relations are already loaded."""
        serializer_class = self.serializer_classes.get("default", self.serializer_class)
        return represent(serializer_class, instance, context=self.get_serializer_context())

    def retrieve(self, request, *args, **kwargs):
        return Response(self.serialize_detail(self.get_object()))


class OrganizationScopedViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """CRUD for an organization-owned model; create and update answer with the detail."""

    def perform_create(self, serializer):
        organization = serializer.validated_data["organization"]
        self.check_organization_write(organization.pk)
        serializer.save()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(
            self.detail_data(serializer.instance, as_written=True), status=status.HTTP_201_CREATED
        )

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        self.perform_update(serializer)
        return Response(self.detail_data(serializer.instance))


class OrganizationScopedReadDeleteViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """For scoped resources that are created and changed only through actions."""
