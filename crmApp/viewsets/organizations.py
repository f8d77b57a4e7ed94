"""Organizations and memberships.

An organization is its own tenant (`Organization.TENANT_PATH = "id"`). Reads need
`organizations:view` there; the caller's other writes are checked against the permission table
for that organization, so a member without the right gets 403 and a stranger 404. An inactive
organization is read-only (the base refuses writes), except for what its owner needs to undo or
finish it: reactivating it and deleting it. Leaving is always possible.
"""

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from crmApp.filters.organizations import MembershipFilterSet
from crmApp.models import Invitation, UserOrganization
from crmApp.permissions.classes import OrganizationOwnerRules
from crmApp.selectors.organizations import MembershipSelector, OrganizationSelector
from crmApp.serializers.invitations import InvitationSerializer
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
from crmApp.services import invitations as invitation_service
from crmApp.services import organizations as organization_service
from crmApp.throttling import AuthRateThrottle
from crmApp.viewsets.base import OrganizationScopedMixin

NOT_A_MEMBER = "This user is not an active member."

#: Adding by `user_id` answers the membership; adding by `email` answers the invitation.
ADD_MEMBER_ANSWER = PolymorphicProxySerializer(
    component_name="AddMemberAnswer",
    serializers=[MembershipSerializer, InvitationSerializer],
    resource_type_field_name=None,
)


def add_or_invite(*, organization_id: int, request, access, data) -> UserOrganization | Invitation:
    """An email becomes an invitation (same answer whether or not an account uses it); a
    `user_id` the form resolved (a verified colleague) becomes a membership at once."""
    if data["user"] is None:
        return invitation_service.invitation_create(
            organization_id=organization_id,
            actor=request.user,
            access=access,
            email=data["email"],
            role=data["role"],
        )
    membership = organization_service.membership_add(
        organization_id=organization_id,
        actor=request.user,
        user=data["user"],
        is_owner=False,
        is_active=data["is_active"],
    )
    if data["role"] is not None:
        invitation_service.member_role_grant(
            membership=membership, role=data["role"], actor=request.user, access=access
        )
    return membership


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

    @extend_schema(request=AddMemberSerializer, responses={201: ADD_MEMBER_ANSWER})
    @action(detail=True, methods=["post"])
    def add_member(self, request, pk=None):
        organization = self.get_object()
        serializer = AddMemberSerializer(
            data=request.data,
            context={"actor_id": request.user.pk, "organization_id": organization.pk},
        )
        serializer.is_valid(raise_exception=True)
        added = add_or_invite(
            organization_id=organization.pk,
            request=request,
            access=self.access,
            data=serializer.validated_data,
        )
        if isinstance(added, Invitation):
            return Response(InvitationSerializer(added).data, status=status.HTTP_201_CREATED)
        return Response(self._membership_data(added), status=status.HTTP_201_CREATED)

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
    create=extend_schema(request=MembershipCreateSerializer, responses={201: ADD_MEMBER_ANSWER}),
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
            data=request.data,
            context={"member_org_ids": self.access.member_org_ids, "actor_id": request.user.pk},
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self.check_organization_write(data["organization_id"])
        added = add_or_invite(
            organization_id=data["organization_id"],
            request=request,
            access=self.access,
            data=data,
        )
        if isinstance(added, Invitation):
            return Response(InvitationSerializer(added).data, status=status.HTTP_201_CREATED)
        return Response(self.detail_data(added), status=status.HTTP_201_CREATED)

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
