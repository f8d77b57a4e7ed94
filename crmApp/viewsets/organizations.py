"""Organizations and memberships.

An organization is scoped by its own id (`organization_lookup = "id"`). Reads need
`organizations:view` there; the caller's other writes are checked against the permission table
for that organization, so a member without the right gets 403 and a stranger 404. An inactive
organization is read-only (the base refuses writes), except for what its owner needs to undo or
finish it: reactivating it and deleting it. Leaving is always possible.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from crmApp.filters.organizations import MembershipFilterSet
from crmApp.models import Organization, UserOrganization
from crmApp.serializers.organizations import (
    AddMemberSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    OrganizationCreateSerializer,
    OrganizationSerializer,
    RemoveMemberSerializer,
)
from crmApp.serializers.schema import MessageSerializer
from crmApp.services import organizations as organization_service
from crmApp.viewsets.base import OrganizationScopedMixin

#: Caps on the unpaginated arrays (contract C5).
MAX_MY_ORGANIZATIONS = 200
MAX_MEMBERS = 500

ADD_MEMBER_DENIED = "Only organization owners can add members."
ACTIVATION_DENIED = "Only organization owners can activate or deactivate an organization."
NOT_A_MEMBER = "This user is not an active member."


@extend_schema_view(
    create=extend_schema(
        request=OrganizationCreateSerializer, responses={201: OrganizationSerializer}
    ),
    update=extend_schema(request=OrganizationSerializer, responses=OrganizationSerializer),
    partial_update=extend_schema(request=OrganizationSerializer, responses=OrganizationSerializer),
)
class OrganizationViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    queryset = Organization.objects.all()
    organization_lookup = "id"
    serializer_classes = {
        "default": OrganizationSerializer,
        "create": OrganizationCreateSerializer,
        "members": MembershipSerializer,
        "add_member": AddMemberSerializer,
        "remove_member": RemoveMemberSerializer,
    }
    ordering_fields = (
        "id",
        "name",
        "slug",
        "description",
        "industry",
        "website",
        "phone",
        "email",
        "address",
        "city",
        "state",
        "postal_code",
        "country",
        "subscription_plan",
        "subscription_status",
        "is_active",
        "created_at",
        "updated_at",
    )
    ordering_aliases = {"zip_code": "postal_code"}

    #: Actions that see every organization of an active membership, not only readable ones:
    #: self-service ones, and writes, whose permission check then answers 403 to a member.
    MEMBER_VISIBLE = frozenset(
        {"update", "partial_update", "destroy", "add_member", "remove_member", "leave"}
    )

    def scope_queryset(self, queryset):
        return queryset.annotate(member_count=organization_service.active_member_count())

    def readable_organization_ids(self):
        if self.action == "my_organizations":
            return self.access.member_org_ids
        if self.action in self.MEMBER_VISIBLE:
            narrowed = self.narrowed_organization_ids()
            members = self.access.member_org_ids
            return members & narrowed if narrowed is not None else members
        return super().readable_organization_ids()

    def check_object_permissions(self, request, obj):
        access = self.access
        if self.action == "add_member" and not access.has(obj.pk, self.required()):
            self.permission_denied(request, message=ADD_MEMBER_DENIED)
        if self.action in ("update", "partial_update"):
            if self._changes_activation(obj) and obj.pk not in access.owner_org_ids:
                self.permission_denied(request, message=ACTIVATION_DENIED)
            if not obj.is_active and obj.pk in access.owner_org_ids and self._reactivates():
                return  # the owner holds every permission; reactivation is allowed while inactive
        if self.action == "destroy" and obj.pk in access.owner_org_ids:
            return  # owner only; also allowed while inactive
        super().check_object_permissions(request, obj)

    def _requested_activation(self) -> bool | None:
        """The body's `is_active` when it is a valid boolean (bad values fail validation later)."""
        data = self.request.data if isinstance(self.request.data, dict) else {}
        if "is_active" not in data:
            return None
        try:
            return serializers.BooleanField().to_internal_value(data["is_active"])
        except serializers.ValidationError:
            return None

    def _changes_activation(self, obj) -> bool:
        requested = self._requested_activation()
        return requested is not None and requested != obj.is_active

    def _reactivates(self) -> bool:
        return self._requested_activation() is True

    def create(self, request, *args, **kwargs):
        serializer = OrganizationCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        organization = organization_service.organization_create(
            owner=request.user, **serializer.validated_data
        )
        return Response(self.detail_data(organization), status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        serializer = OrganizationSerializer(
            instance, data=request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(self.detail_data(serializer.instance))

    @extend_schema(responses=OrganizationSerializer(many=True))
    @action(detail=False, methods=["get"])
    def my_organizations(self, request):
        """Every organization where the caller is an active member (first 200 by id)."""
        organizations = self.get_queryset().order_by("id")[:MAX_MY_ORGANIZATIONS]
        return Response(OrganizationSerializer(organizations, many=True).data)

    @extend_schema(responses=MembershipSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        organization = self.get_object()
        memberships = (
            organization.user_organizations.filter(is_active=True)
            .select_related("user")
            .order_by("id")[:MAX_MEMBERS]
        )
        return Response(MembershipSerializer(memberships, many=True).data)

    @extend_schema(request=AddMemberSerializer, responses={201: MembershipSerializer})
    @action(detail=True, methods=["post"])
    def add_member(self, request, pk=None):
        organization = self.get_object()
        serializer = AddMemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        membership = organization_service.membership_add(
            organization_id=organization.pk,
            actor=request.user,
            user=data["user"],
            is_owner=data["is_owner"],
            is_active=data["is_active"],
        )
        return Response(self._membership_data(membership), status=status.HTTP_201_CREATED)

    @extend_schema(request=RemoveMemberSerializer, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def remove_member(self, request, pk=None):
        organization = self.get_object()
        serializer = RemoveMemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = organization.user_organizations.filter(
            user_id=serializer.validated_data["user_id"], is_active=True
        ).first()
        if membership is None:
            raise ValidationError({"user_id": [NOT_A_MEMBER]})
        organization_service.membership_remove(membership=membership, actor=request.user)
        return Response({"message": "Member removed successfully."})

    @extend_schema(request=None, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def leave(self, request, pk=None):
        organization = self.get_object()
        organization_service.membership_leave(organization_id=organization.pk, user=request.user)
        return Response({"message": "You have left the organization."})

    def _membership_data(self, membership: UserOrganization) -> dict:
        membership.organization = self.scope_queryset(
            self.queryset.filter(pk=membership.organization_id)
        ).get()
        return MembershipSerializer(membership).data


@extend_schema_view(
    create=extend_schema(request=MembershipCreateSerializer, responses={201: MembershipSerializer}),
    update=extend_schema(request=MembershipUpdateSerializer, responses=MembershipSerializer),
    partial_update=extend_schema(
        request=MembershipUpdateSerializer, responses=MembershipSerializer
    ),
)
class MembershipViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """`user-organizations/`: memberships of the organizations where the caller may read them.

    Creating one is `add_member` with the organization in the body; changes follow the owner
    rules of `crmApp.services.organizations` (S6).
    """

    queryset = UserOrganization.objects.all()
    serializer_classes = {
        "default": MembershipSerializer,
        "create": MembershipCreateSerializer,
        "update": MembershipUpdateSerializer,
        "partial_update": MembershipUpdateSerializer,
    }
    filterset_class = MembershipFilterSet
    ordering_fields = ("id", "user", "organization", "is_active", "is_owner", "joined_at")

    def scope_queryset(self, queryset):
        return queryset.select_related("user", "organization").annotate(
            organization_member_count=organization_service.active_member_count("organization_id")
        )

    def create_organization_hint(self) -> int | None:
        data = self.request.data if isinstance(self.request.data, dict) else {}
        try:
            return int(data["organization_id"])
        except (KeyError, TypeError, ValueError):
            return None

    def create(self, request, *args, **kwargs):
        serializer = MembershipCreateSerializer(
            data=request.data, context={"member_org_ids": self.access.member_org_ids}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self.check_organization_write(data["organization_id"])
        membership = organization_service.membership_add(
            organization_id=data["organization_id"],
            actor=request.user,
            user=data["user"],
            is_owner=data["is_owner"],
            is_active=data["is_active"],
        )
        return Response(self.detail_data(membership), status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        membership = self.get_object()
        serializer = MembershipUpdateSerializer(membership, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        membership = organization_service.membership_update(
            membership=membership,
            actor=request.user,
            is_active=serializer.validated_data.get("is_active"),
            is_owner=serializer.validated_data.get("is_owner"),
        )
        return Response(self.detail_data(membership))

    def perform_destroy(self, instance):
        organization_service.membership_delete(membership=instance, actor=self.request.user)

    @extend_schema(request=None, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        membership = self.get_object()
        organization_service.membership_update(
            membership=membership, actor=request.user, is_active=False
        )
        return Response({"message": "Membership deactivated successfully."})
