import secrets

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

#: The documentation pages' policy: everything from this origin, nothing from anywhere else.
#: Redoc's bundle shows a footer logo from a CDN (an <img> it always renders; no option turns
#: it off) and Swagger UI would ask an online validator for a badge (off in the settings too):
#: with `img-src 'self' data:` the browser never requests either. Styles are injected inline by
#: both bundles; Redoc's search index runs in a worker built from a blob; the one inline script
#: of each page (its start-up) carries the per-response nonce. "Try it out" calls this origin.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class LocalAssetsOnly:
    """A documentation page under `DOCS_POLICY`, its template given the nonce as `csp_nonce`."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        nonce = secrets.token_urlsafe(16)
        response = super().get(request, *args, **kwargs)
        response.data["csp_nonce"] = nonce
        response["Content-Security-Policy"] = DOCS_POLICY.format(nonce=nonce)
        return response


class SwaggerView(LocalAssetsOnly, SpectacularSwaggerView):
    """The Swagger UI page. An HTML page has no API metadata to describe, and DRF's OPTIONS
    answer would be rendered through the page's template renderer without a template."""

    template_name = "crm/swagger_ui.html"

    def options(self, request, *args, **kwargs):
        return HttpResponse(headers={"Allow": ", ".join(self.allowed_methods)})


class RedocView(LocalAssetsOnly, SpectacularRedocView):
    """The Redoc page: local assets only (a local-only page head, no web fonts)."""

    template_name = "crm/redoc.html"


urlpatterns = [
    # The admin only where ADMIN_URL says, and nowhere when ADMIN_ENABLED is off.
    *([path(settings.ADMIN_URL, admin.site.urls)] if settings.ADMIN_ENABLED else []),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    path("api/", include("crmApp.urls")),
]

# Only with BENCH_ENDPOINTS on (crmAdmin.settings): the bare view reads any organization's rows
# without authentication.
if apps.is_installed("crmBench"):
    urlpatterns.append(path("api/bench/", include("crmBench.urls")))

handler400 = "crmApp.exceptions.json_bad_request"
handler403 = "crmApp.exceptions.json_forbidden"
handler404 = "crmApp.exceptions.json_not_found"
handler500 = "crmApp.exceptions.json_server_error"
