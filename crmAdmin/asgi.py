"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")
os.environ["CRM_SERVING"] = "1"  # settings refuse a missing SECRET_KEY when serving
application = get_asgi_application()
