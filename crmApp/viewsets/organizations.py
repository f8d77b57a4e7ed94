"""Organizations and memberships.

An organization is its own tenant (`Organization.TENANT_PATH = "id"`). Reads need
`organizations:view` there; the caller's other writes are checked against the permission table
for that organization, so a member without the right gets 403 and a stranger 404. An inactive
organization is read-only (the base refuses writes), except for what its owner needs to undo or
finish it: reactivating it and deleting it. Leaving is always possible.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from crmApp.filters.organizations import MembershipFilterSet
from crmApp.models import UserOrganization
from crmApp.permissions.classes import OrganizationOwnerRules
from crmApp.selectors.organizations import MembershipSelector, OrganizationSelector
from crmApp.serializers.organizations import (
    AddMemberSerializer,
    MembershipCreateSerializer,
    MembershipHintSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    OrganizationCreateSerializer,
    OrganizationSerializer,
    RemoveMemberSerializer,
)
from crmApp.serializers.schema import MessageSerializer
from crmApp.services import organizations as organization_service
from crmApp.throttling import AuthRateThrottle
from crmApp.viewsets.base import OrganizationScopedMixin

NOT_A_MEMBER = "This user is not an active member."


class OrganizationCreateRateThrottle(AuthRateThrottle):
    """The scoped sliding-window throttle, under the `organization_create` rate, per user."""


@extend_schema_view(
    create=extend_schema(
        request=OrganizationCreateSerializer, responses={201: OrganizationSerializer}
    ),
    update=extend_schema(request=OrganizationSerializer, responses=OrganizationSerializer),
    partial_update=extend_schema(request=OrganizationSerializer, responses=OrganizationSerializer),
)
class OrganizationViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    selector = OrganizationSelector()
    permission_classes = [OrganizationOwnerRules]
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

    #: Writes answer 403 (not 404) to a member without the permission; `my_organizations`
    #: lists every organization of an active membership.
    visible_to_members = frozenset(
        {"update", "partial_update", "destroy", "add_member", "remove_member", "leave"}
    )
    visible_across_memberships = frozenset({"my_organizations"})

    def get_throttles(self):
        if self.action == "create":
            # Creation is also limited per user under its own rate (`organization_create`), on
            # top of the general ones: each organization seeds roles and permissions.
            self.throttle_scope = "organization_create"
            return [*super().get_throttles(), OrganizationCreateRateThrottle()]
        return super().get_throttles()

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
        organization = organization_service.organization_update(
            organization=instance, actor=request.user, **serializer.validated_data
        )
        return Response(self.detail_data(organization))

    def perform_destroy(self, instance):
        organization_service.organization_delete(organization=instance, actor=self.request.user)

    @extend_schema(responses=OrganizationSerializer(many=True))
    @action(detail=False, methods=["get"])
    def my_organizations(self, request):
        """Every organization where the caller is an active member (first 200 by id)."""
        organizations = self.selector.mine(self.get_queryset())
        return Response(OrganizationSerializer(organizations, many=True).data)

    @extend_schema(responses=MembershipSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        organization = self.get_object()
        memberships = self.selector.members(organization)
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
        membership = MembershipSelector().active(
            organization, user_id=serializer.validated_data["user_id"]
        )
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
        return MembershipSerializer(self.selector.membership_answer(membership)).data


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
    rules of `crmApp.services.organizations`.
    """

    selector = MembershipSelector()
    serializer_classes = {
        "default": MembershipSerializer,
        "create": MembershipCreateSerializer,
        "update": MembershipUpdateSerializer,
        "partial_update": MembershipUpdateSerializer,
    }
    filterset_class = MembershipFilterSet
    ordering_fields = ("id", "user", "organization", "is_active", "is_owner", "joined_at")

    def create_organization_hint(self) -> int | None:
        form = MembershipHintSerializer(data=self.request.data)
        return form.validated_data.get("organization_id") if form.is_valid() else None

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
