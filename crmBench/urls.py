"""Mounted under /api/bench/ by crmAdmin.urls, and only while this app is installed."""

from django.urls import path

from crmBench.views import bare_customers

# No app_name: the route keeps the un-namespaced name it had when it lived in crmApp.urls.
urlpatterns = [
    path("customers/", bare_customers, name="bench-customers"),
]
