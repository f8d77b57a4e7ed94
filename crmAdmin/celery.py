"""The Celery app: `celery -A crmAdmin worker` (and `-B` for the periodic outbox sweep).

Configuration comes from Django's settings (the `CELERY_*` names), so the web process and the
workers agree on the broker, the queues and the limits. Without `CELERY_BROKER_URL` tasks run
eagerly in-process; see crmApp.tasks.enqueue.
"""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")

app = Celery("crmAdmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# CSV import tasks live apart from crmApp.tasks (see crmApp/import_tasks.py).
app.autodiscover_tasks(["crmApp"], related_name="import_tasks")


@worker_process_init.connect
def _freeze_startup_objects(**_kwargs) -> None:
    """Keep what the worker loaded at startup (Django, DRF, the app's modules) out of the
    garbage collector's full passes: a task that allocates many objects (an import batch:
    thousands of dicts and rows) otherwise rescans them all on every full collection, about
    a tenth of a batch's CPU. Nothing collectable is lost: startup objects live as long as
    the process."""
    gc.freeze()
