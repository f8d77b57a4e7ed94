"""The domain's errors: what a service refuses, independent of how the refusal is delivered.

Services raise these; the API's exception handler (`crmApp.exceptions`) turns each into the
error envelope from its class attributes alone, so no layer matches message strings and
services never import anything about HTTP. A management command or a Celery task catches the
same classes.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal a service raises. `status_code` is the HTTP status it maps to."""

    status_code = 400
    default_message = "The request cannot be carried out."

    def __init__(self, message: str | None = None, *, details: dict | None = None):
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class InvalidInput(DomainError):
    """Field-level refusals (`{"field": ["message", ...]}`), like a form's validation errors."""

    default_message = "An error occurred"

    def __init__(self, details: dict[str, list[str]]):
        super().__init__(details=details)


class RecordInvalid(InvalidInput):
    """The record as a whole refuses the change (model-level validation, `"Validation Error"`)."""

    default_message = "Validation Error"


class MissingInput(DomainError):
    """A required value of an action's body is absent (`{"error": "<name> is required"}`)."""

    def __init__(self, name: str):
        super().__init__(f"{name} is required")


class TransitionNotAllowed(DomainError):
    """A state change the record's current state does not allow."""

    default_message = "This transition is not allowed."


class NotFound(DomainError):
    """A record the action needs is missing or belongs to another organization."""

    status_code = 404
    default_message = "Not found."


class Conflict(DomainError):
    """The change lost a race with a concurrent one; retrying may succeed."""

    status_code = 409
    default_message = "The request conflicts with a concurrent change; retry it."


class RecordInUse(DomainError):
    """Other records still depend on this one; the request must say what becomes of them."""

    status_code = 409
    default_message = "The record is still in use."


class RecordMissing(NotFound):
    """A row the action names is gone or invisible: answered like any unknown detail route."""

    def __init__(self, model_name: str):
        super().__init__(f"No {model_name} matches the given query.")


class Forbidden(DomainError):
    """The caller may act in the organization but not on this record in this way."""

    status_code = 403
    default_message = "You do not have permission to perform this action."


class TooLarge(DomainError):
    """A file (or what it adds to an organization's stored files) exceeds a configured limit."""

    status_code = 413
    default_message = "The file is too large."
