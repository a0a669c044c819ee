"""The Celery app. Configuration comes from Django settings (``CELERY_*``).

Periodic work is declared once, in ``BEAT_SCHEDULE`` below, and run by beat
with django-celery-beat's database scheduler: a few static entries only, never
one entry per message (DESIGN.md §5.3).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moments_admin.settings.base")

app = Celery("moments")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The static beat entries. Filled by the dispatch, results-sync and roll-up work.
app.conf.beat_schedule = {}
