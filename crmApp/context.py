"""Per-request values that layers below the HTTP one may read without importing it."""

from contextvars import ContextVar

#: The id of the request being served ("" outside a request: a task, a shell, a migration);
#: set by the request middleware, recorded on domain events.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="")
