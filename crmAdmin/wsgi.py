"""WSGI entry point (gunicorn crmAdmin.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")
os.environ["CRM_SERVING"] = "1"  # settings refuse a missing SECRET_KEY when serving
application = get_wsgi_application()
