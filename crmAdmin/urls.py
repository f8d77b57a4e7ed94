from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("crmApp.urls")),
]

handler400 = "crmApp.exceptions.json_bad_request"
handler403 = "crmApp.exceptions.json_forbidden"
handler404 = "crmApp.exceptions.json_not_found"
handler500 = "crmApp.exceptions.json_server_error"
