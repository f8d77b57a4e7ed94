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

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

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
    "convert": "Convert {a_one} into a customer (and deal)",
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

#: Summaries of the plain API views by HTTP method, when they declare none.
METHOD_VERBS = {"GET": "Read", "POST": "Submit", "PUT": "Replace", "PATCH": "Update"}


def _humanize(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ")
    text = " ".join(words.split()).lower()
    return text[:1].upper() + text[1:]


def _names(view) -> tuple[str, str]:
    queryset = getattr(view, "queryset", None)
    if queryset is not None:
        meta = queryset.model._meta
        return str(meta.verbose_name), str(meta.verbose_name_plural)
    basename = getattr(view, "basename", None) or type(view).__name__.removesuffix("ViewSet")
    one = _humanize(basename).lower()
    return one, f"{one}s"


def derived_summary(view, method: str, action: str | None) -> str:
    if action is None:
        name = _humanize(type(view).__name__.removesuffix("View"))
        return name if method in ("GET", "POST") else f"{METHOD_VERBS.get(method, method)}: {name}"
    one, many = _names(view)
    template = ACTION_SUMMARIES.get(action)
    if template is not None:
        article = "an" if one[:1] in "aeiou" else "a"
        text = template.format(one=one, many=many, a_one=f"{article} {one}")
        return text[:1].upper() + text[1:]
    subject = one if getattr(view, "detail", False) else many
    return f"{_humanize(action)} ({subject})"


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
