"""What every log line carries: the request's id and, inside a Celery task, the task's name and id.

The request id comes from django-guid (its middleware takes a valid ``X-Request-ID`` from the proxy
or makes one, answers it in the same header, and its Celery integration hands it to the tasks the
request queues). The task comes from Celery's current task (eager or in a worker). LOG_FORMAT picks
plain text or one JSON object a line (python-json-logger)."""

from __future__ import annotations

import logging

from celery import current_task
from django_guid import get_guid


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``task_id`` and ``task_name`` to each record ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_guid() or "-"
        task = current_task._get_current_object() if current_task else None
        request = getattr(task, "request", None)
        record.task_id = getattr(request, "id", None) or "-"
        record.task_name = (getattr(task, "name", None) or "-") if record.task_id != "-" else "-"
        return True
