"""Per-request values that layers below the HTTP one may read without importing it."""

from collections.abc import Callable
from contextvars import ContextVar

#: The id of the request being served ("" outside a request: a task, a shell, a migration);
#: set by the request middleware, recorded on domain events.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="")


def _no_client() -> int | None:
    return None


#: Who the request is served for: a function answering the signed-in user's id (None when no
#: one is signed in, or outside a request). A function, because the API authenticates after
#: the middleware that sets it; read only once the view runs (crmApp.db_routing.read_alias).
current_client_id: ContextVar[Callable[[], int | None]] = ContextVar(
    "current_client_id", default=_no_client
)
