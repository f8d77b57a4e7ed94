from django.apps import AppConfig


class CrmAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "crmApp"
    verbose_name = "CRM"

    def ready(self) -> None:
        from crmApp import checks, schema  # noqa: F401  (register system checks, OpenAPI auth)
