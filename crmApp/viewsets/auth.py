"""Registration, login, refresh, logout, password change, the caller's profile and sessions."""

from django.contrib.auth import authenticate, logout
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from crmApp.addresses import client_address
from crmApp.authentication import login_retry_after
from crmApp.models import User, UserSession
from crmApp.permissions import get_access
from crmApp.selectors.users import sessions_of, users_visible_to
from crmApp.serializers.invitations import (
    EmailSerializer,
    PasswordResetConfirmSerializer,
    TokenSerializer,
)
from crmApp.serializers.schema import (
    LoginResponseSerializer,
    MessageSerializer,
    PasswordChangedSerializer,
    TokenPairSerializer,
)
from crmApp.serializers.users import (
    ChangePasswordSerializer,
    LoginSerializer,
    LogoutSerializer,
    ProfileSerializer,
    RefreshSerializer,
    RegistrationSerializer,
    SessionSerializer,
    UserSerializer,
)
from crmApp.services import accounts as accounts_service
from crmApp.services import auth as auth_service
from crmApp.throttling import (
    AnonRateThrottle,
    AuthRateThrottle,
    PasswordResetEmailThrottle,
    UserRateThrottle,
)
from crmApp.viewsets.base import AtomicWritesMixin

INVALID_CREDENTIALS = "Unable to log in with provided credentials."


def client_device(request) -> str | None:
    return request.META.get("HTTP_USER_AGENT")


class AnonymousAuthView(APIView):
    """An endpoint called without a token (login, refresh, emailed links): no authentication,
    and the login-scoped rate limits on top of the anonymous ones."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [AuthRateThrottle, AnonRateThrottle]
    throttle_scope = "auth"


class LoginView(AnonymousAuthView):
    #: Auth answers hold tokens, which are never stored for replay (crmApp.idempotency).
    idempotency_exempt = True
    serializer_class = LoginSerializer

    @extend_schema(request=LoginSerializer, responses=LoginResponseSerializer)
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["email"]
        # The backend counts failures and refuses locked accounts and addresses before hashing.
        user = authenticate(request, email=email, password=serializer.validated_data["password"])
        if user is None:
            wait = login_retry_after(request)
            if wait is not None:
                raise Throttled(wait=wait)
            raise ValidationError({"non_field_errors": [INVALID_CREDENTIALS]})
        tokens = auth_service.session_start(
            user=user, ip_address=client_address(request), device_info=client_device(request)
        )
        user.refresh_from_db()
        return Response({"user": UserSerializer(user).data, "tokens": tokens.as_dict()})


class RefreshView(AnonymousAuthView):
    #: Auth answers hold tokens, which are never stored for replay (crmApp.idempotency).
    idempotency_exempt = True
    serializer_class = RefreshSerializer

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'  # a refused refresh token is a 401, not a 403

    @extend_schema(request=RefreshSerializer, responses=TokenPairSerializer)
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tokens = auth_service.session_refresh(raw_refresh=serializer.validated_data["refresh"])
        return Response(tokens.as_dict())


class LogoutView(APIView):
    #: Auth answers hold tokens, which are never stored for replay (crmApp.idempotency).
    idempotency_exempt = True
    permission_classes = [IsAuthenticated]
    serializer_class = LogoutSerializer

    @extend_schema(request=LogoutSerializer, responses=MessageSerializer)
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        access_session = request.auth.get("sid") if request.auth is not None else None
        auth_service.user_logout(
            user=request.user,
            access_session_id=access_session,
            raw_refresh=serializer.validated_data.get("refresh_token"),
        )
        logout(request)
        return Response({"message": "Successfully logged out."})


class ChangePasswordView(APIView):
    #: Auth answers hold tokens, which are never stored for replay (crmApp.idempotency).
    idempotency_exempt = True
    permission_classes = [IsAuthenticated]
    throttle_classes = [AuthRateThrottle, UserRateThrottle]
    throttle_scope = "auth"
    serializer_class = ChangePasswordSerializer

    @extend_schema(request=ChangePasswordSerializer, responses=PasswordChangedSerializer)
    def post(self, request):
        serializer = ChangePasswordSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        tokens = auth_service.user_change_password(
            user=request.user,
            new_password=serializer.validated_data["new_password"],
            ip_address=client_address(request),
            device_info=client_device(request),
        )
        return Response({"message": "Password changed successfully.", "tokens": tokens.as_dict()})


ACCEPTED_FOR_DELIVERY = {"message": "If the address has an account, a link has been sent."}


class VerifyEmailView(AtomicWritesMixin, AnonymousAuthView):
    """Confirm the account's address with the emailed token (the token alone proves it)."""

    serializer_class = TokenSerializer

    @extend_schema(request=TokenSerializer, responses=MessageSerializer)
    def post(self, request):
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        accounts_service.email_verify(raw_token=serializer.validated_data["token"])
        return Response({"message": "Email address verified."})


class VerifyEmailResendView(AtomicWritesMixin, APIView):
    """Mail the caller a new verification link; 202 whether or not one was due."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [AuthRateThrottle]
    throttle_scope = "verify_email_resend"

    @extend_schema(request=None, responses={202: MessageSerializer})
    def post(self, request):
        accounts_service.email_verification_request(user=request.user)
        return Response(
            {"message": "If the address still needs verifying, a link has been sent."},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetView(AtomicWritesMixin, APIView):
    """Ask for a reset link: always 202 with the same body; mail only for an active account."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [AuthRateThrottle, PasswordResetEmailThrottle]
    throttle_scope = "password_reset"
    serializer_class = EmailSerializer

    @extend_schema(request=EmailSerializer, responses={202: MessageSerializer})
    def post(self, request):
        serializer = EmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        accounts_service.password_reset_request(email=serializer.validated_data["email"])
        return Response(ACCEPTED_FOR_DELIVERY, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(AtomicWritesMixin, AnonymousAuthView):
    """Set a new password with the emailed token; every session of the account ends."""

    serializer_class = PasswordResetConfirmSerializer

    @extend_schema(request=PasswordResetConfirmSerializer, responses=MessageSerializer)
    def post(self, request):
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        accounts_service.password_reset_confirm(
            raw_token=serializer.validated_data["token"],
            new_password=serializer.validated_data["new_password"],
        )
        return Response({"message": "Password has been reset; log in with the new password."})


@extend_schema_view(
    create=extend_schema(request=RegistrationSerializer, responses={201: UserSerializer}),
)
class UserViewSet(AtomicWritesMixin, viewsets.ModelViewSet):
    #: Auth answers hold tokens, which are never stored for replay (crmApp.idempotency).
    idempotency_exempt = True
    """Users visible to the caller: themselves and members of organizations they can read.

    Nobody edits or deletes another user here; registration is anonymous.
    """

    serializer_class = UserSerializer
    queryset = User.objects.all()
    ordering = ("id",)
    ordering_fields = (
        "id",
        "email",
        "username",
        "phone",
        "is_active",
        "is_verified",
        "is_staff",
        "two_factor_enabled",
        "last_login_at",
        "email_verified_at",
        "created_at",
        "updated_at",
    )
    search_fields = ("email", "username", "first_name", "last_name")

    def get_permissions(self):
        if self.action == "create":
            return [AllowAny()]
        return [IsAuthenticated()]

    def get_throttles(self):
        if self.action == "create":
            self.throttle_scope = "auth"
            return [AuthRateThrottle(), AnonRateThrottle()]
        return super().get_throttles()

    def get_serializer_class(self):
        return RegistrationSerializer if self.action == "create" else UserSerializer

    def get_queryset(self):
        readable = get_access(self.request).orgs_with((("users", "view"),))
        return users_visible_to(user=self.request.user, organization_ids=readable)

    def get_object(self):
        # Only the caller's own profile routes (`me`, `update_profile`) accept a PUT without an
        # id in the path, and DRF's OPTIONS answer asks for the object that PUT would change
        # (with no action set, as OPTIONS is no action of the route): it is the caller.
        if self.lookup_field not in self.kwargs:
            return self.request.user
        return super().get_object()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("password_confirm")
        user = auth_service.user_register(**data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        if serializer.instance.pk != self.request.user.pk:
            raise PermissionDenied("You can only change your own account.")
        serializer.instance = auth_service.user_update_profile(
            user=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        raise PermissionDenied("Accounts cannot be deleted through the API.")

    @extend_schema(methods=["GET"], responses=ProfileSerializer)
    @extend_schema(
        methods=["PUT", "PATCH"],
        request=ProfileSerializer(partial=True),
        responses=ProfileSerializer,
        description="A partial update of the caller's own profile (PUT behaves like PATCH).",
    )
    @action(detail=False, methods=["get", "patch", "put"])
    def me(self, request):
        if request.method == "GET":
            return Response(ProfileSerializer(request.user).data)
        return self._update_self(request)

    @extend_schema(
        request=ProfileSerializer(partial=True),
        responses=ProfileSerializer,
        description="A partial update of the caller's own profile (PUT behaves like PATCH).",
    )
    @action(detail=False, methods=["put", "patch"])
    def update_profile(self, request):
        return self._update_self(request)

    def _update_self(self, request):
        # The mail preferences (`notify_assignments`, `notify_digest`) are changed here too.
        serializer = ProfileSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = auth_service.user_update_profile(user=request.user, **serializer.validated_data)
        return Response(ProfileSerializer(user).data)


class SessionViewSet(
    AtomicWritesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's own login sessions: list, revoke, delete (which also revokes)."""

    serializer_class = SessionSerializer
    queryset = UserSession.objects.all()
    ordering = ("-id",)
    ordering_fields = ("id", "created_at", "expires_at", "is_revoked")

    def get_queryset(self):
        return sessions_of(user=self.request.user)

    @extend_schema(request=None, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        session = self.get_object()
        auth_service.session_revoke(session_ids=[session.pk], user=request.user)
        return Response({"message": "Token revoked successfully."})
