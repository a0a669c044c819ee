"""Schema fuzzing (schemathesis, in-process against the WSGI app), with every check schemathesis
has: each operation of the OpenAPI description, called with generated input (its examples,
the coverage phase's boundary and negative cases, then a bounded number of fuzzed ones, all
deterministic) by a marketing admin, never answers a server error and answers what the schema
says (status code, media type, headers, body); what the schema calls invalid is refused and
what it calls valid is accepted; credentials are enforced. And every operation refuses an
anonymous caller (401) and a logged-in user without a role (403)."""

from __future__ import annotations

import re
from email.parser import BytesParser
from email.policy import HTTP

import jsonschema
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi import checks as openapi_checks

from common.input_guard import has_control_character
from moments_admin.wsgi import application
from staff.tests import factories

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
# What the fuzzing may not do: start real background work against WeCom (a directory sync,
# a results sync) — those operations are covered by their own tests; here only their refusals.
SIDE_EFFECTS = {("POST", "/api/v1/directory/syncs/"), ("POST", "/api/v1/analytics/campaigns/{public_id}/sync/")}
FUZZED_EXAMPLES = 40  # per operation, after the examples and the coverage phase

# positive_data_acceptance: a request the schema calls valid must be accepted. Some rules are
# beyond what a schema can state — an id that must name an existing object, one field against
# another, a file that must be a photo — and a generated request breaks them. Only there, and
# only a 400 naming nothing but these fields, is a refusal of valid-looking data accepted.
_VARIANT = {"tone", "audience_tags", "target_departments", "target_associates", "hashtags", "images", "video",
            "link_cover", "cta", "copy", "link_url", "link_title", "non_field_errors"}  # fmt: skip
_STEP = {"non_field_errors"}  # a workflow step the object's state does not allow
_DASHBOARD = {"filters"}  # the department must be among yours; the range at most 366 days, in order
BEYOND_THE_SCHEMA = {
    ("POST", "/api/v1/campaigns/"): {"ends_on"},  # the last day on or after the first
    ("PATCH", "/api/v1/campaigns/{public_id}/"): {"ends_on"},
    ("POST", "/api/v1/moments/"): {"campaign", "publish_at", "expires_at"},  # an existing campaign; its window
    ("POST", "/api/v1/moments/{public_id}/variants/"): _VARIANT,  # existing tags, photos …; WeCom's limits
    ("PUT", "/api/v1/variants/{public_id}/"): _VARIANT,
    ("POST", "/api/v1/hashtags/"): {"non_field_errors"},  # one word of at most 32 characters, once normalised
    ("POST", "/api/v1/ctas/"): {"url", "code", "tier", "group_name", "expires_at"},  # what each kind needs
    ("POST", "/api/v1/media/"): {"file", "non_field_errors"},  # the bytes (not none) must be a photo or a video
    ("POST", "/api/v1/analytics/forecast/"): {"moments"},  # existing moments
    ("POST", "/api/v1/analytics/rules/"): {"effective_from", "time_zone"},  # one version a day; a real zone
    ("GET", "/api/v1/analytics/associates/{userid}/reach/"): {"campaign"},  # an existing campaign
    ("GET", "/api/v1/analytics/associates/{userid}/slots/"): {"start"},  # start ≤ end, at most 92 days
    ("GET", "/api/v1/directory/associates/"): {"department"},  # one of yours
    ("GET", "/api/v1/analytics/dashboards/campaigns/{public_id}/overview/"): _DASHBOARD,
    ("GET", "/api/v1/analytics/dashboards/campaigns/{public_id}/forecast-vs-actual/"): _DASHBOARD,
    ("GET", "/api/v1/analytics/dashboards/campaigns/{public_id}/leaderboard/"): _DASHBOARD | {"sort"},  # by's
    ("GET", "/api/v1/analytics/dashboards/readiness/"): _DASHBOARD,
    **{("POST", f"/api/v1/{kind}/{{public_id}}/{step}/"): _STEP
       for kind, steps in (("campaigns", ("submit", "approve", "reject", "clone")),
                           ("moments", ("submit", "approve", "reject", "schedule", "cancel")))
       for step in steps},
}  # fmt: skip


def _strings(value):
    """Every string of a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield key
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


def positive_data_acceptance(ctx, response, case):
    try:
        return openapi_checks.positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 400:
            refused = set(response.json())
            if refused <= BEYOND_THE_SCHEMA.get((case.method.upper(), case.path), set()):
                return None
            # The schema allows properties it does not declare, and says nothing of them: one with
            # a control character in its name or value is refused by the input guard, as a control
            # character is in every string the schema declares (its pattern).
            if refused == {"detail"} and any(has_control_character(text) for text in _strings(case.body)):
                return None
        raise


def _multipart_as_received(response) -> dict | None:
    """The multipart body the server read: each field's text (the last one sent, as Django reads a
    repeated field), a file part as a string, which is what the schema calls a file."""
    request = response.request
    body = request.body.encode() if isinstance(request.body, str) else request.body
    if not isinstance(body, bytes):
        return None
    head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        fields[name] = "" if part.get_filename() is not None else payload.decode(errors="replace")
    return fields


def _valid_as_received(case, response) -> bool:
    """Whether the body the server read is one the schema calls valid."""
    received = _multipart_as_received(response)
    if received is None:
        return False
    request_body = case.operation.definition.raw["requestBody"]["content"][case.media_type]["schema"]
    document = {**request_body, "components": schema.raw_schema["components"]}
    return jsonschema.Draft202012Validator(document).is_valid(received)


def negative_data_rejection(ctx, response, case):
    # A multipart body has no types but text (and files): a field that schemathesis negates to
    # another type (null, a boolean, a number, an object) goes on the wire as its text — "null",
    # "true", "-2112" — which is a valid value for the upload's text field (its title). So for a
    # multipart body the check judges the body the server read, parsed back from the request that
    # was sent: when that body is valid for the schema (and nothing outside the body was negated),
    # accepting it is right. A negation that survives the wire (a title too long or with a control
    # character, no file) is still checked; JSON bodies are checked as schemathesis has it.
    multipart = (case.media_type or "").startswith("multipart/")
    parts = case.meta.components.items() if case.meta else ()
    negated = {location for location, part in parts if part.mode.is_negative}
    if multipart and negated == {ParameterLocation.BODY} and _valid_as_received(case, response):
        return None
    return openapi_checks.negative_data_rejection(ctx, response, case)


WRAPPED = {openapi_checks.positive_data_acceptance: positive_data_acceptance,
           openapi_checks.negative_data_rejection: negative_data_rejection}  # fmt: skip
load_all_checks()
CHECKS_RUN = [WRAPPED.get(check, check) for check in CHECKS.get_all()]


@pytest.fixture
def kept_connection():
    """The WSGI app's request signals close the database connection after each request (as
    in production); the test's connection holds its transaction, so keep it open (Django's
    test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=FUZZED_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          database=None)  # fmt: skip
@pytest.mark.django_db
def test_no_operation_fails_or_answers_off_schema(case, api_world, kept_connection):
    if (case.method.upper(), case.path) in SIDE_EFFECTS:
        pytest.skip("starts background work against WeCom: covered by its own tests")
    case.call_and_validate(headers={"Authorization": f"Token {api_world.token}"}, checks=CHECKS_RUN)


# The stateful phase: sequences of calls that follow the links schemathesis infers (a list's
# ids into the operations on one object, a created campaign into its steps …), so the world's
# real objects are read, changed and stepped through the workflow, every answer checked.
STATEFUL_SCENARIOS = 100
STATEFUL_STEPS = 8


WITHOUT_SIDE_EFFECTS = schema.exclude(method="POST", path=sorted(path for _method, path in SIDE_EFFECTS))


class Workflow(WITHOUT_SIDE_EFFECTS.as_state_machine()):
    token = ""

    def get_call_kwargs(self, case):
        return {"headers": {"Authorization": f"Token {self.token}"}}

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(response, checks=CHECKS_RUN, headers=kwargs.get("headers"),
                               transport_kwargs=kwargs or None, recorder=self.recorder)  # fmt: skip


def test_no_sequence_of_calls_fails_or_answers_off_schema(api_world, kept_connection):
    Workflow.token = api_world.token
    Workflow.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS,
                                   deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                                   database=None))  # fmt: skip


def _operations():
    for result in schema.get_all_operations():
        operation = result.ok()
        yield operation.method.upper(), operation.path


def _concrete(path: str) -> str:
    """A URL for the pattern, with ids that name nothing."""
    path = re.sub(r"\{public_id\}", "00000000-0000-4000-8000-000000000000", path)
    return re.sub(r"\{[^}]+\}", "nobody", path)


OPERATIONS = sorted(set(_operations()))


def test_the_sequences_leave_out_the_operations_that_start_work_against_wecom():
    left = {(result.ok().method.upper(), result.ok().path) for result in WITHOUT_SIDE_EFFECTS.get_all_operations()}
    assert not left & SIDE_EFFECTS and len(left) == len(OPERATIONS) - len(SIDE_EFFECTS)


def test_every_check_runs():
    """The fuzzing runs schemathesis's every check (two narrowed, above), not a chosen few."""
    assert {check.__name__ for check in CHECKS_RUN} == set(CHECKS.get_all_names())
    assert len(CHECKS_RUN) >= 14


def test_the_schema_describes_the_whole_api():
    paths = {path for _method, path in OPERATIONS}
    for expected in ("/api/v1/campaigns/", "/api/v1/moments/{public_id}/schedule/", "/api/v1/publish-tasks/",
                     "/api/v1/directory/associates/", "/api/v1/directory/syncs/", "/api/v1/analytics/rules/",
                     "/api/v1/analytics/dashboards/campaigns/{public_id}/overview/",
                     "/api/v1/analytics/dashboards/readiness/", "/api/v1/analytics/forecast/"):  # fmt: skip
        assert expected in paths


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_refuses_strangers(client, db, method, path):
    url = _concrete(path)
    anonymous = client.generic(method, url, data="{}", content_type="application/json")
    assert anonymous.status_code == 401, (method, url, anonymous.content[:200])
    client.force_login(factories.user("no-role"))
    no_role = client.generic(method, url, data="{}", content_type="application/json")
    assert no_role.status_code == 403, (method, url, no_role.content[:200])
