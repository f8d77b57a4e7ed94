from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView


class SwaggerView(SpectacularSwaggerView):
    """The Swagger UI page. An HTML page has no API metadata to describe, and DRF's OPTIONS
    answer would be rendered through the page's template renderer without a template."""

    def options(self, request, *args, **kwargs):
        return HttpResponse(headers={"Allow": ", ".join(self.allowed_methods)})


urlpatterns = [
    # The admin only where ADMIN_URL says, and nowhere when ADMIN_ENABLED is off.
    *([path(settings.ADMIN_URL, admin.site.urls)] if settings.ADMIN_ENABLED else []),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path(
        "api/redoc/",
        # A local-only page head (no web fonts): the docs load without network access.
        SpectacularRedocView.as_view(url_name="schema", template_name="crm/redoc.html"),
        name="redoc",
    ),
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
