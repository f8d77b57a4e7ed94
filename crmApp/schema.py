"""OpenAPI generation: the bearer scheme, the error envelope on every operation.

Every operation documents the errors it can answer (the one envelope), so generated clients and
schema-driven fuzzers know a 400 or 404 is part of the contract rather than a surprise.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorEnvelope = inline_serializer(
    name="ErrorEnvelope",
    fields={
        "error": serializers.CharField(),
        "details": serializers.JSONField(help_text="Field -> messages, or a message string."),
        "status_code": serializers.IntegerField(),
    },
)


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorEnvelope, description=description)


class RevocableJWTScheme(OpenApiAuthenticationExtension):
    target_class = "crmApp.authentication.RevocableJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class EnvelopeAutoSchema(AutoSchema):
    """Adds the error responses an endpoint can give to whatever the view declares."""

    def get_response_serializers(self):
        declared = super().get_response_serializers()
        if not isinstance(declared, dict) or not any(
            isinstance(code, int) or str(code).isdigit() for code in declared
        ):
            success = "201" if self._is_create() else "200"
            if self.method == "DELETE" and self._is_destroy():
                success = "204"
            declared = {success: declared}
        responses = dict(declared)
        errors = {
            "400": error("Invalid input (field errors under `details`)."),
            "401": error("Missing, invalid, expired or revoked token."),
            "403": error("The caller's role does not allow this action."),
            "404": error("Not found, or not visible to the caller."),
            "405": error("Method not allowed."),
            "409": error("Conflicting concurrent change; retry."),
            "429": error("Rate limited; see Retry-After."),
        }
        for code, response in errors.items():
            if code not in {str(key) for key in responses}:
                responses[code] = response
        return responses

    def _is_create(self) -> bool:
        return self.method == "POST" and getattr(self.view, "action", None) == "create"

    def _is_destroy(self) -> bool:
        return getattr(self.view, "action", None) == "destroy"
