from django.apps import apps
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
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
