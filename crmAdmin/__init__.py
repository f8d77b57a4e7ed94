"""Loads the Celery app with Django so `shared_task`s bind to it in every process."""

from crmAdmin.celery import app as celery_app

__all__ = ("celery_app",)
