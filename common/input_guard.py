"""The input guard: a NUL byte or another control character in what a request carries is a 400
with a short message, before any view sees it (issue #18, DESIGN §7 "Bad input of any kind").

PostgreSQL refuses NUL in text (a 500 when it reached a query), and no field of ours holds the
other C0 control characters or DEL either. Checked: the path, every query parameter (names and
values), every form field (urlencoded, and multipart's text fields; a file's contents are not
read) and, under /api/, every string of a JSON body (keys too). Tab, line feed and carriage
return are text and pass. A cookie carrying one (none of ours can: a forged or tossed one) is
dropped rather than refused, so it cannot lock anyone out; a session cookie so, a fresh session.

The WeCom callback (an encrypted XML body) and the sandbox's JSON are not forms: only their
paths and query parameters are looked at. The answer is JSON under /api/ and to a page's script
(``{"detail": …}``), a plain page to a person's browser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from importlib import import_module

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext

CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
NAME_SHOWN = 40  # characters of a field's name in the message


def has_control_character(text: str) -> bool:
    return CONTROL_CHARACTER.search(text) is not None


class Refused(Exception):
    """Where the control character is: a field's name, or None (the address, a name itself)."""

    def __init__(self, field: str | None):
        super().__init__(field)
        self.field = field


def _fields(pairs: Iterable[tuple[str, list]]) -> None:
    for name, values in pairs:
        if has_control_character(name):
            raise Refused(None)
        if any(isinstance(value, str) and has_control_character(value) for value in values):
            raise Refused(name)


def _json_strings(value) -> Iterator[tuple[str | None, str]]:
    """Every string of a parsed JSON document, keys included, with the top-level key it is under."""
    stack = [(None, value)]
    while stack:
        top, item = stack.pop()
        if isinstance(item, str):
            yield top, item
        elif isinstance(item, dict):
            for key, child in item.items():
                under = key if top is None else top
                yield None, key
                stack.append((under, child))
        elif isinstance(item, list):
            stack.extend((top, child) for child in item)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _check(request: HttpRequest) -> HttpResponse | None:
    """Raises Refused; answers a response itself only for a body it could not read as the API would."""
    if has_control_character(request.path):
        raise Refused(None)
    _fields(request.GET.lists())
    content_type = (request.content_type or "").lower()
    api = request.path_info.startswith("/api/")
    if request.method == "POST" and content_type in (FORM, MULTIPART):
        try:
            _fields(request.POST.lists())  # multipart: the text fields; files stay in request.FILES, unread
        except MultiPartParserError as error:
            if not api:
                raise  # Django answers 400, as it did when CSRF's check read the form
            # DRF's own answer to a body it cannot parse (the view would have given it).
            return JsonResponse({"detail": f"Multipart form parse error - {error}"}, status=400)
    elif content_type == FORM and request.method in ("PUT", "PATCH", "DELETE"):
        _fields(QueryDict(request.body, encoding=request.encoding).lists())
    elif api and _is_json(content_type) and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        try:
            document = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return None  # the view says what is wrong with it
        except RecursionError:
            return JsonResponse({"detail": "JSON parse error - nested too deeply"}, status=400)
        for top, text in _json_strings(document):
            if has_control_character(text):
                raise Refused(top)
    return None


def _drop_bad_cookies(request: HttpRequest) -> None:
    bad = [name for name, value in request.COOKIES.items() if has_control_character(name + value)]
    for name in bad:
        del request.COOKIES[name]
    if settings.SESSION_COOKIE_NAME in bad and hasattr(request, "session"):
        request.session = import_module(settings.SESSION_ENGINE).SessionStore()


def _message(field: str | None) -> str:
    if field is None:
        return gettext(
            "This request contains a control character (such as a NUL byte), which is not accepted: remove it and "
            "try again."
        )
    return gettext(
        "“%(field)s” contains a control character (such as a NUL byte), which is not accepted: remove it and try again."
    ) % {"field": field[:NAME_SHOWN]}


def _wants_json(request: HttpRequest) -> bool:
    """The API, and a page's script (fetch, XHR) rather than a person's browser navigating."""
    return (
        request.path_info.startswith("/api/")
        or "application/json" in request.headers.get("Accept", "")
        or request.headers.get("Sec-Fetch-Mode") in ("cors", "same-origin")
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
    )


class InputGuardMiddleware:
    """Refuses a request carrying a control character before the views (and the database) see it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        _drop_bad_cookies(request)
        try:
            answered = _check(request)
        except Refused as refused:
            message = _message(refused.field)
            if _wants_json(request):
                return JsonResponse({"detail": message}, status=400, json_dumps_params={"ensure_ascii": False})
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return answered or self.get_response(request)
