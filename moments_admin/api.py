"""What every API view shares: permissions, pagination, the one exception handler that
turns domain errors into 400s with plain messages, and the schema's error answers, set in
one place (``error_responses``, a drf-spectacular postprocessing hook) (STYLE.md §8)."""

from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import QueryDict
from django.utils.translation import gettext as _
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from campaigns.services import WorkflowError
from common.input_guard import CONTROL_CHARACTER


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, including ``view`` for reads (DRF's default lets any user read)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


MAX_PAGE = 999_999_999


def whole_number(raw: str, low: int, high: int) -> bool:
    """``raw`` is a whole number from ``low`` to ``high``, in ASCII digits (int() reads "٣" and fails on "²")."""
    return raw.isascii() and raw.isdigit() and len(raw) <= len(str(high)) and low <= int(raw) <= high


class Pagination(PageNumberPagination):
    """``?page=`` (from 1; past the last page is a 404, as DRF answers) and ``?page_size=`` (1 to
    200, 50 by default). A page or a page size that is not a whole number in its range is a 400
    that says so (DRF's own reads an empty page as the first, a bad page as a missing one, and a
    bad size as the default or the maximum)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if raw not in self.last_page_strings and not whole_number(raw, 1, MAX_PAGE):
            raise ValidationError({self.page_query_param: [_("A page number, from 1.")]})
        return raw

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not whole_number(raw, 1, self.max_page_size):
            raise ValidationError(
                {self.page_size_query_param: [_("A whole number from 1 to %(max)d.") % {"max": self.max_page_size}]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size,
                                       "default": self.page_size}  # fmt: skip
        return parameters


# --- JSON's types, as the schema states them -------------------------------------------------------
def _json_kind(value) -> type:
    """JSON's kind of a value: a string, a boolean, a number (or something else)."""
    for kind in (bool, str, int | float):
        if isinstance(value, kind):
            return kind
    return object


def _wrong_type(field: serializers.Field, value) -> str | None:
    """What is wrong with the JSON type of ``value`` for ``field`` (None: nothing). Null is left
    to the field (``allow_null``); the value itself to its validation."""
    if value is None:
        return None
    if isinstance(field, serializers.ManyRelatedField | serializers.ListSerializer | serializers.ListField):
        if not isinstance(value, list):
            return _("A list.")
        child = field.child_relation if isinstance(field, serializers.ManyRelatedField) else field.child
        return next(filter(None, (_wrong_type(child, item) for item in value)), None)
    if isinstance(field, serializers.BooleanField):
        right = isinstance(value, bool)
        expected = _("true or false.")
    elif isinstance(field, serializers.IntegerField):
        right = isinstance(value, int) and not isinstance(value, bool)
        expected = _("A whole number.")
    elif isinstance(field, serializers.FloatField):
        right = isinstance(value, int | float) and not isinstance(value, bool)
        expected = _("A number.")
    elif isinstance(field, serializers.ChoiceField):
        right = _json_kind(value) in {_json_kind(choice) for choice in field.choices}
        expected = _("One of: %(choices)s.") % {"choices": ", ".join(map(str, field.choices))}
    elif isinstance(field, serializers.BaseSerializer):
        right = isinstance(value, dict)
        expected = _("An object.")
    elif isinstance(field, serializers.RelatedField):  # DRF would read "" as null
        right = isinstance(value, str) and value != ""
        expected = _("An id (a non-empty string).")
    elif isinstance(field, serializers.CharField | serializers.UUIDField | serializers.DateField
                    | serializers.DateTimeField):  # fmt: skip
        right = isinstance(value, str)
        expected = _("A string.")
    else:
        return None
    return None if right else expected


class StrictJson:
    """For an input serializer (first in its bases): a JSON value of the wrong type is a 400, as
    the schema says, where DRF's fields would convert it (``5`` to ``"5"``, ``"5"`` to ``5``,
    ``"yes"`` to ``true``, a number to a UUID). A form's values are all text: left to the fields."""

    def to_internal_value(self, data):
        if isinstance(data, dict) and not isinstance(data, QueryDict):  # parsed JSON; a form's values are text
            errors = {}
            for name, field in self.fields.items():
                if not field.read_only and name in data:
                    wrong = _wrong_type(field, data[name])
                    if wrong:
                        errors[name] = [wrong]
            if errors:
                raise ValidationError(errors)
        return super().to_internal_value(data)


class DateTimeField(serializers.DateTimeField):
    """DRF's, always RFC 3339 (the schema's ``date-time``): a local offset with seconds — Shanghai's
    +08:05:43 before 1901 — cannot be written in it, so such a time is given in UTC."""

    def to_representation(self, value):
        text = super().to_representation(value)
        if isinstance(text, str) and _OFFSET_WITH_SECONDS.search(text):
            return serializers.DateTimeField(default_timezone=dt.UTC).to_representation(value)
        return text


_OFFSET_WITH_SECONDS = re.compile(r"[+-][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$")


class MessageOut(serializers.Serializer):
    """What an operation that starts work in the background answers: a sentence."""

    detail = serializers.CharField()


def _errors(error: DjangoValidationError) -> dict:
    if hasattr(error, "error_dict"):
        return {field: [str(m) for e in errors for m in e.messages] for field, errors in error.error_dict.items()}
    return {"non_field_errors": [str(m) for m in error.messages]}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        return Response(_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, WorkflowError):
        return Response({"non_field_errors": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, PermissionDenied):
        return Response({"detail": str(exc) or "You do not have permission."}, status=status.HTTP_403_FORBIDDEN)
    return drf_exception_handler(exc, context)


# --- the errors in the schema ----------------------------------------------------------------------
# Every operation can answer these; they are added to each one here rather than on every view.
ERROR = {
    "type": "object",
    "description": "Why the request was refused, in a sentence (401, 403, 404, 409 …).",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR = {
    "type": "object",
    "description": "What is wrong with the request: each field's messages under its name "
    "(``non_field_errors`` for the request as a whole; a list's or an object's by position or key), "
    "or ``detail`` alone for a body that could not be read or a control character anywhere in the request.",
    "properties": {
        "detail": {"type": "string"},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": {
        "anyOf": [
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
            {"type": "object"},
            {"type": "string"},
        ]
    },
}
ERRORS = {
    400: ("ValidationError", "The request is not valid: the body says why."),
    401: ("Error", "No credentials, or wrong ones (``WWW-Authenticate: Token``)."),
    403: ("Error", "The user's role does not allow this."),
    404: ("Error", "No such object in the user's scope (or a page past the last)."),
    415: ("Error", "The body is not in the media type the operation reads (JSON, or the upload's multipart)."),
}
# A string the request carries may hold no control character but tab, line feed and carriage
# return (``common.input_guard`` answers 400 before any view): said on every string parameter
# and every string of a request body.
_CONTROL = CONTROL_CHARACTER.pattern[1:-1]
TEXT_PATTERN = f"^[^{_CONTROL}]*$"
# A required text field (minLength 1) is trimmed by DRF before it is checked, so it needs one
# character that is not whitespace as Python's str.strip() sees it (the control characters among
# those are refused anyway).
_WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NON_BLANK_TEXT_PATTERN = f"^[^{_CONTROL}]*[^{_CONTROL}{_WHITESPACE}][^{_CONTROL}]*$"
_NOT_TEXT = {"binary", "byte", "uuid", "date", "date-time"}


def _text_pattern(schema, components: dict, seen: set) -> None:
    """Adds the input guard's pattern to every free-form string of a request schema (a required
    one's: NON_BLANK_TEXT_PATTERN), refs followed once."""
    if isinstance(schema, list):
        for item in schema:
            _text_pattern(item, components, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            _text_pattern(components.get(name), components, seen)
        return
    free_text = schema.get("type") == "string" and schema.get("format") not in _NOT_TEXT
    if free_text and "enum" not in schema and "pattern" not in schema:
        schema["pattern"] = NON_BLANK_TEXT_PATTERN if schema.get("minLength", 0) >= 1 else TEXT_PATTERN
    for key in ("properties", "patternProperties"):
        for child in (schema.get(key) or {}).values():
            _text_pattern(child, components, seen)
    for key in ("items", "additionalProperties"):
        _text_pattern(schema.get(key), components, seen)
    for key in ("allOf", "anyOf", "oneOf"):
        _text_pattern(schema.get(key), components, seen)


def error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: on every operation the errors it can answer, with
    their bodies — 400 (every operation: the input guard reads every query parameter, declared
    or not), 401 and 403 (every operation needs a user with a role), 404 (an operation on one
    object, or a paginated list), 415 (an operation with a body) — unless the view documents its
    own; and the control-character rule on the request's strings."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR)
    components.setdefault("ValidationError", VALIDATION_ERROR)
    seen: set[str] = set()
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            parameters = operation.get("parameters", [])
            one_object = any(p["in"] == "path" for p in parameters)
            paginated = any(p["in"] == "query" and p["name"] == "page_size" for p in parameters)
            responses = operation.setdefault("responses", {})
            for code, (component, description) in ERRORS.items():
                if (code == 404 and not (one_object or paginated)) or (code == 415 and "requestBody" not in operation):
                    continue
                responses.setdefault(str(code), {
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
                    "description": description,
                })  # fmt: skip
            for parameter in parameters:
                _text_pattern(parameter.get("schema"), components, seen)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _text_pattern(media.get("schema"), components, seen)
    return result


# --- errors outside the API's views, under /api/ ------------------------------------------------
def not_found(request, exception=None):
    """A URL under /api/ that matches nothing answers JSON like the API's own 404s; other paths
    get Django's page."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def bad_request(request, exception=None):
    """A request Django refuses before any view (too many fields, a body too large …): JSON under
    /api/, like the API's own 400s."""
    from django.http import JsonResponse
    from django.views.defaults import bad_request as page_bad_request

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request: it is too large or malformed."}, status=400)
    return page_bad_request(request, exception)


def server_error(request):
    from django.http import JsonResponse
    from django.views.defaults import server_error as page_server_error

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error: it has been logged."}, status=500)
    return page_server_error(request)
