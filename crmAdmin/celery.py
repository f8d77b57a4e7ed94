"""The Celery app: `celery -A crmAdmin worker` (and `-B` for the periodic outbox sweep).

Configuration comes from Django's settings (the `CELERY_*` names), so the web process and the
workers agree on the broker, the queues and the limits. Without `CELERY_BROKER_URL` tasks run
eagerly in-process; see crmApp.tasks.enqueue.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")

app = Celery("crmAdmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# CSV import tasks live apart from crmApp.tasks (see crmApp/import_tasks.py).
app.autodiscover_tasks(["crmApp"], related_name="import_tasks")
