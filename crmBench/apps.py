from django.apps import AppConfig


class CrmBenchConfig(AppConfig):
    name = "crmBench"
    verbose_name = "CRM benchmark"
