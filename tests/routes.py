"""Enumerate every API route the URL configuration registers.

The tenancy and permission tests walk this list, so a new endpoint is covered (or must be
exempted with a reason) without editing them.
"""

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    method: str
    basename: str | None
    action: str | None
    detail: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.name}"

    def path(self, pk: int | None = None, *, external_id: str = "ext-probe") -> str:
        path = "/" + self.pattern
        if pk is not None:
            path = path.replace("<pk>", str(pk))
        return path.replace("<external_id>", external_id)


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _readable(pattern: str) -> str:
    text = pattern.replace("(?P<pk>[^/.]+)", "<pk>").replace(
        "(?P<external_id>[^/]+)", "<external_id>"
    )
    return text.replace("^", "").replace("$", "")


def api_routes() -> list[Route]:
    """Every (method, route) under /api/, format-suffix duplicates and the API root excluded."""
    routes: dict[str, Route] = {}
    for raw, entry in _walk(get_resolver().url_patterns):
        pattern = _readable(raw)
        if not pattern.startswith("api/") or "format" in raw or entry.name == "api-root":
            continue
        callback = entry.callback
        actions = getattr(callback, "actions", None)
        initkwargs = getattr(callback, "initkwargs", {}) or {}
        basename = initkwargs.get("basename")
        if actions:
            detail = "<pk>" in pattern
            for method, action in actions.items():
                route = Route(entry.name, pattern, method.upper(), basename, action, detail)
                routes[route.key] = route
        else:
            view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
            methods = [
                m.upper()
                for m in ("get", "post", "put", "patch", "delete")
                if view_class is not None and hasattr(view_class, m)
            ]
            for method in methods:
                route = Route(entry.name, pattern, method, None, None, False)
                routes[route.key] = route
    return sorted(routes.values(), key=lambda r: r.key)
