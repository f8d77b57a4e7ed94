from django.contrib.admin.apps import AdminConfig


class CrmAdminConfig(AdminConfig):
    """`django.contrib.admin` whose default site answers throttled logins with 429."""

    default_site = "crmApp.admin_site.CrmAdminSite"
