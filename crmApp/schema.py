"""OpenAPI generation: the bearer scheme, the error envelope, organization selection.

Every operation documents the errors it can answer (the one envelope), so generated clients and
schema-driven fuzzers know a 400 or 404 is part of the contract rather than a surprise. The
rules that hold for every view live here instead of being repeated on each action:

- only `list` is paginated (the list-like actions answer bare arrays or objects);
- filters, search and ordering are documented where they apply (`list` and `filter_actions`);
- organization-scoped views take the `X-Organization-ID` header, and their collection reads the
  `organization` query parameter;
- `bulk_update` bodies list exactly the view's `bulk_update_fields`.
"""

import inspect
import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from crmApp.schema_descriptions import DESCRIPTIONS, VIEW_DESCRIPTIONS

ErrorEnvelope = inline_serializer(
    name="ErrorEnvelope",
    fields={
        "error": serializers.CharField(),
        "details": serializers.JSONField(help_text="Field -> messages, or a message string."),
        "status_code": serializers.IntegerField(),
    },
)

MAX_ID = 2**63 - 1

#: Actions of scoped views that ignore the organization narrowing (they list the caller's own).
UNNARROWED_ACTIONS = frozenset({"my_organizations", "my_roles"})

ORGANIZATION_HEADER = OpenApiParameter(
    name="X-Organization-ID",
    type={"type": "integer", "minimum": 1, "maximum": MAX_ID},
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Act within this organization only (one where you are a member): lists and lookups are "
        "narrowed to it, and a create without `organization` in the body goes there."
    ),
)

ORGANIZATION_QUERY = OpenApiParameter(
    name="organization",
    type={"type": "integer", "minimum": 1, "maximum": MAX_ID},
    location=OpenApiParameter.QUERY,
    required=False,
    description="Narrow to this organization (same as the `X-Organization-ID` header).",
)


ERRORS = {
    "400": "Invalid input (field errors under `details`).",
    "401": "Missing, invalid, expired or revoked token.",
    "403": "The caller's role does not allow this action.",
    "404": "Not found, or not visible to the caller.",
    "405": "Method not allowed.",
    "409": "Conflicting concurrent change; retry.",
    "429": "Rate limited; see Retry-After.",
}


#: Methods whose request body is parsed (so it may be too large, 413, or of an unsupported
#: media type, 415).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorEnvelope, description=description)


#: Summaries of the standard viewset actions; `{one}` / `{many}` are the model's names.
ACTION_SUMMARIES = {
    "list": "List {many}",
    "retrieve": "Retrieve {a_one}",
    "create": "Create {a_one}",
    "update": "Replace {a_one}",
    "partial_update": "Update {a_one}",
    "destroy": "Delete {a_one}",
    "move_stage": "Move {a_one} to another stage",
    "mark_won": "Mark {a_one} as won",
    "mark_lost": "Mark {a_one} as lost",
    "reopen": "Reopen a closed {one}",
    "stage_history": "Stage history of {a_one}",
    "rotting": "List rotting {many}",
    "bulk_delete": "Delete several {many}",
    "bulk_update": "Update several {many}",
    "export_csv": "Export {many} as CSV",
    "stats": "Statistics of {many}",
    "activate": "Activate {a_one}",
    "deactivate": "Deactivate {a_one}",
    "reorder": "Move {a_one} to another position",
    "set_default": "Make {a_one} the default",
    "convert": "Convert {a_one} into a customer",
    "qualify": "Qualify {a_one}",
    "disqualify": "Disqualify {a_one}",
    "terminate": "Terminate {a_one}",
    "revoke": "Revoke {a_one}",
    "me": "Your own account",
    "update_profile": "Update your own profile",
    "add_member": "Add a member to {a_one}",
    "remove_member": "Remove a member from {a_one}",
    "members": "Members of {a_one}",
    "leave": "Leave {a_one}",
    "my_organizations": "Your organizations",
    "my_roles": "Your roles",
    "assign_permission": "Grant a permission to {a_one}",
    "remove_permission": "Withdraw a permission from {a_one}",
    "by_resource": "{many} grouped by resource",
    "departments": "Departments of the {many}",
    "types": "Types of {many}",
    "download": "Download {a_one}",
    "cancel": "Cancel {a_one}",
    "errors": "Refused rows of {a_one} as CSV",
}

#: Names of resources whose model name reads badly in a sentence, by viewset basename.
RESOURCE_NAMES = {
    "user-organization": ("membership", "memberships"),
    "user-role": ("role assignment", "role assignments"),
    "refresh-token": ("login session", "login sessions"),
    "webhook-delivery": ("webhook delivery", "webhook deliveries"),
}

#: Summaries of actions and views that no template above words well.
SUMMARIES = {
    "upsert": "Create or replace {a_one} by external id",
    "resend": "Resend {a_one}",
    "deliveries": "Deliveries of {a_one}",
    "rotate_secret": "Rotate the signing secret of {a_one}",
    "test": "Send a test ping to {a_one}",
    "redeliver": "Send {a_one} again",
    "LoginView": "Log in",
    "RefreshView": "Refresh the token pair",
    "LogoutView": "Log out",
    "ChangePasswordView": "Change your password",
    "VerifyEmailView": "Verify an email address",
    "VerifyEmailResendView": "Resend the verification email",
    "PasswordResetView": "Ask for a password reset link",
    "PasswordResetConfirmView": "Set a new password with a reset link",
    "InvitationAcceptView": "Accept an invitation",
    "HealthView": "Health check",
}

#: Summaries of the plain API views by HTTP method, when they declare none.
METHOD_VERBS = {"GET": "Read", "POST": "Submit", "PUT": "Replace", "PATCH": "Update"}


def _humanize(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ")
    text = " ".join(words.split()).lower()
    return text[:1].upper() + text[1:]


def _names(view) -> tuple[str, str]:
    basename = getattr(view, "basename", None)
    if basename in RESOURCE_NAMES:
        return RESOURCE_NAMES[basename]
    queryset = getattr(view, "queryset", None)
    if queryset is not None:
        meta = queryset.model._meta
        return str(meta.verbose_name), str(meta.verbose_name_plural)
    basename = getattr(view, "basename", None) or type(view).__name__.removesuffix("ViewSet")
    one = _humanize(basename).lower()
    return one, f"{one}s"


def _fill(template: str, view) -> str:
    """`template` with the view's resource names (`{one}`, `{many}`, `{a_one}`)."""
    one, many = _names(view)
    article = "an" if one[:1] in "aeio" else "a"  # "a user", "an employee"
    text = template.format(one=one, many=many, a_one=f"{article} {one}")
    return text[:1].upper() + text[1:]


def derived_summary(view, method: str, action: str | None) -> str:
    if action is None:
        view_name = type(view).__name__
        if view_name in SUMMARIES:
            return SUMMARIES[view_name]
        name = _humanize(view_name.removesuffix("View"))
        return name if method in ("GET", "POST") else f"{METHOD_VERBS.get(method, method)}: {name}"
    template = SUMMARIES.get(action) or ACTION_SUMMARIES.get(action)
    if template is not None:
        return _fill(template, view)
    one, many = _names(view)
    subject = one if getattr(view, "detail", False) else many
    return f"{_humanize(action)} ({subject})"


def _own_doc(owner) -> str:
    """`owner`'s own docstring (a class's not inherited from its bases), dedented."""
    doc = owner.__dict__.get("__doc__") if isinstance(owner, type) else owner.__doc__
    return inspect.cleandoc(doc) if doc else ""


def derived_description(view, method: str, action: str | None) -> str:
    """What the operation does, for API readers (see `crmApp.schema_descriptions`)."""
    basename = getattr(view, "basename", None)
    if action is not None:
        handler = getattr(type(view), action, None)
        # A docstring on the view's own method speaks for this resource; one inherited from a
        # base or mixin (written for developers of the base) never does.
        if handler is not None and handler.__qualname__.split(".")[0] == type(view).__name__:
            own = _own_doc(handler)
            if own:
                return own
        template = DESCRIPTIONS.get(f"{basename}.{action}") or DESCRIPTIONS.get(action)
        return _fill(template, view) if template is not None else ""
    name = type(view).__name__
    if name in VIEW_DESCRIPTIONS:
        return VIEW_DESCRIPTIONS[name]
    handler = type(view).__dict__.get(method.lower())
    return (_own_doc(handler) if handler is not None else "") or _own_doc(type(view))


def _permission_names(required) -> str:
    return " and ".join(f"`{resource}:{action}`" for resource, action in required)


def permission_text(view, action: str | None) -> str:
    """Who may call the operation, from the permission table or the view's permission classes."""
    from crmApp.permissions.classes import OrganizationPermission
    from crmApp.permissions.table import (
        OWNER_ONLY,
        PARENT,
        SELF_SERVICE,
        required_permissions,
    )

    permissions = view.get_permissions()
    if any(isinstance(p, AllowAny) for p in permissions):
        return "**Permission:** none; no token needed."
    if not any(isinstance(p, OrganizationPermission) for p in permissions) or action is None:
        return "**Permission:** any logged-in user (a valid access token); it acts as you."
    required = required_permissions(getattr(view, "basename", ""), action)
    if required is None:
        return "**Permission:** nobody (not in the permission table)."
    if required == SELF_SERVICE:
        return "**Permission:** any logged-in user; it reads or changes only your own data."
    if OWNER_ONLY in required:
        return "**Permission:** the organization's owner only."
    if any(resource == PARENT for resource, _ in required):
        verbs = " and ".join(f"`{verb}`" for resource, verb in required if resource == PARENT)
        return (
            f"**Permission:** {verbs} on the resource of the record the attachment hangs on "
            "(`customers`, `leads`, `deals` or `activities`) in its organization (the owner "
            "holds every permission). Without it: 403."
        )
    implied = sorted({resource for resource, verb in required if verb != "manage"})
    manage = " or ".join(f"`{resource}:manage`" for resource in implied)
    covers = f"{manage} implies it; " if manage else ""
    return (
        f"**Permission:** {_permission_names(required)} in the organization concerned "
        f"({covers}the owner holds every permission). Without it: 403."
    )


class RevocableJWTScheme(OpenApiAuthenticationExtension):
    target_class = "crmApp.authentication.RevocableJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class EnvelopeAutoSchema(AutoSchema):
    """Adds the error responses and the organization parameters every endpoint shares."""

    def _get_response_bodies(self, direction="response"):
        # Here rather than in get_response_serializers(): @extend_schema replaces that method.
        responses = super()._get_response_bodies(direction)
        errors = dict(ERRORS)
        if self.method in BODY_METHODS:
            errors["413"] = "Request body larger than `MAX_REQUEST_BODY_BYTES`."
            errors["415"] = "Unsupported (or missing) request Content-Type."
        for code, description in sorted(errors.items()):
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    error(description), code, direction=direction
                )
        return responses

    def get_summary(self):
        """The declared summary, else one derived from the view and action ("List customers",
        "Move stage (deal)"), so every operation reads as a sentence in Redoc and Swagger."""
        return super().get_summary() or derived_summary(self.view, self.method, self._action())

    def get_description(self):
        """What the operation does (an `@extend_schema(description=...)` replaces this)."""
        return derived_description(self.view, self.method, self._action())

    def get_operation(self, *args, **kwargs):
        """Every operation also says who may call it."""
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            what = operation.get("description", "").strip()
            permission = permission_text(self.view, self._action())
            operation["description"] = f"{what}\n\n{permission}" if what else permission
        return operation

    def get_request_serializer(self):
        if self._action() == "bulk_update" and hasattr(self.view, "bulk_update_fields"):
            from crmApp.serializers.schema import bulk_update_serializer

            return bulk_update_serializer(type(self.view))
        return super().get_request_serializer()

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if not self._is_organization_scoped() or self._action() in UNNARROWED_ACTIONS:
            return parameters
        parameters.append(ORGANIZATION_HEADER)
        if self.method == "GET" and not self._is_detail():
            parameters.append(ORGANIZATION_QUERY)
        return parameters

    def get_filter_backends(self):
        action = self._action()
        if action is None:
            return super().get_filter_backends()
        if action == "list" or action in getattr(self.view, "filter_actions", ()):
            return getattr(self.view, "filter_backends", [])
        return []

    def _get_paginator(self):
        action = self._action()
        if action is not None and action != "list":
            return None
        return super()._get_paginator()

    def _get_pagination_parameters(self):
        if self._action() not in (None, "list"):
            return []
        return super()._get_pagination_parameters()

    def _action(self) -> str | None:
        return getattr(self.view, "action", None)

    def _is_detail(self) -> bool:
        return bool(getattr(self.view, "detail", False))

    def _is_organization_scoped(self) -> bool:
        from crmApp.viewsets.base import OrganizationScopedMixin

        return isinstance(self.view, OrganizationScopedMixin)


def drop_serializer_docstrings(result, generator, request, public):
    """Postprocessing hook: object components lose the description drf-spectacular takes from
    the serializer's docstring. Those explain the code to its developers (how a base class
    caches, which layer saves), not the data to API users, who read fields' own help texts and
    the operations' descriptions. Enum components keep their generated list of choices."""
    for component in result.get("components", {}).get("schemas", {}).values():
        if "properties" in component:
            component.pop("description", None)
    return result
