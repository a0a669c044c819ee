"""Log lines carry the request's id and, inside a task, the task's name and id (moments_admin.logs)."""

from __future__ import annotations

import json
import logging
import re
import uuid

import pytest
from celery import shared_task
from django.conf import settings
from django.test import Client
from pythonjsonlogger.json import JsonFormatter

from moments_admin.logs import ContextFilter


@shared_task(name="moments_admin.tests.test_logs.log_something")
def log_something() -> None:
    logging.getLogger("moments.test").warning("inside a task")


@pytest.fixture
def lines():
    """What the console handler's formatter writes, for every record logged meanwhile."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep()
    keep.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(keep)
    plain = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"])
    yield lambda: [plain.format(record) for record in records]
    root.removeHandler(keep)


def test_a_request_gets_an_id_that_its_log_lines_carry(db, lines):
    response = Client(raise_request_exception=False).get("/api/v1/no-such-thing/")
    request_id = response["X-Request-ID"]
    assert response.status_code == 404 and len(request_id) == 32
    logged = [line for line in lines() if "Not Found" in line]
    assert logged and all(f"[{request_id} - -]" in line for line in logged)
    another = Client().get("/healthz")  # probes are not worth an id
    assert "X-Request-ID" not in another


def test_the_proxy_s_request_id_is_kept_when_it_is_a_uuid_only(db):
    given = uuid.uuid4().hex
    assert Client().get("/api/v1/", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
    forged = Client().get("/api/v1/", HTTP_X_REQUEST_ID="evil\n2026-01-01 fake line")["X-Request-ID"]
    assert forged != "evil\n2026-01-01 fake line" and "\n" not in forged


def test_a_task_s_lines_carry_its_name_and_id(lines):
    result = log_something.apply()
    logged = [line for line in lines() if "inside a task" in line]
    # A task queued outside a request (beat's) gets an id of its own, which the tasks it queues inherit.
    assert len(logged) == 1
    assert re.search(rf"\[[0-9a-f]{{32}} moments_admin\.tests\.test_logs\.log_something {result.id}\]", logged[0])


def test_json_lines_are_one_object_each_with_the_ids(lines):
    record = logging.LogRecord("moments.test", logging.INFO, __file__, 1, "contact added: %s", ("wm1",), None)
    ContextFilter().filter(record)
    options = {key: value for key, value in settings.LOGGING["formatters"]["json"].items() if key != "()"}
    line = JsonFormatter(**options).format(record)
    assert "\n" not in line
    fields = json.loads(line)
    assert (
        fields["message"] == "contact added: wm1" and fields["level"] == "INFO" and fields["logger"] == "moments.test"
    )
    assert fields["request_id"] == "-" and fields["task_id"] == "-"
