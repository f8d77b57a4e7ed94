"""`/api/invitations/`: an organization's invitations, and accepting one with its token.

Listing, resending and revoking need `organizations:manage` in the invitation's organization;
another organization's invitation is a 404 like a missing one. Accepting is done with the
emailed token alone (`invitations/accept/`), by the invited address's verified account or by
registering that address.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from crmApp.filters.organizations import InvitationFilterSet
from crmApp.selectors.invitations import InvitationSelector
from crmApp.serializers.invitations import (
    InvitationAcceptedSerializer,
    InvitationAcceptSerializer,
    InvitationSerializer,
)
from crmApp.serializers.users import UserSerializer
from crmApp.services import invitations as invitation_service
from crmApp.throttling import AnonRateThrottle, AuthRateThrottle
from crmApp.viewsets.base import AtomicWritesMixin, OrganizationScopedMixin

ACCEPTED = "Invitation accepted."


class InvitationViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    selector = InvitationSelector()
    serializer_class = InvitationSerializer
    filterset_class = InvitationFilterSet
    ordering_fields = ("id", "email", "status", "expires_at", "created_at")

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        invitation = self.get_object()
        invitation = invitation_service.invitation_resend(invitation=invitation, actor=request.user)
        return Response(self.serialize_detail(invitation))

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        invitation = self.get_object()
        invitation = invitation_service.invitation_revoke(invitation=invitation, actor=request.user)
        return Response(self.serialize_detail(invitation))


class InvitationAcceptView(AtomicWritesMixin, APIView):
    """Accept with the token: logged in (a verified account with the invited address), or
    anonymously with registration fields, which create that address's account."""

    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle, AnonRateThrottle]
    throttle_scope = "auth"
    serializer_class = InvitationAcceptSerializer

    @extend_schema(
        request=InvitationAcceptSerializer,
        responses={200: InvitationAcceptedSerializer, 201: InvitationAcceptedSerializer},
    )
    def post(self, request):
        register = not request.user.is_authenticated
        serializer = InvitationAcceptSerializer(data=request.data, context={"register": register})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        raw_token = data.pop("token")
        if not register:
            membership = invitation_service.invitation_accept(
                raw_token=raw_token, user=request.user
            )
            return Response({"message": ACCEPTED, "organization_id": membership.organization_id})
        user, membership = invitation_service.invitation_accept_register(
            raw_token=raw_token, **data
        )
        return Response(
            {
                "message": ACCEPTED,
                "organization_id": membership.organization_id,
                "user": UserSerializer(user).data,
            },
            status=status.HTTP_201_CREATED,
        )
