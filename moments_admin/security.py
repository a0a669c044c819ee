"""Security wiring the settings point at: django-csp's middleware with a policy per part of the site,
and django-axes' client address and lockout page."""

from __future__ import annotations

from csp.decorators import csp_update
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render


class PolicyByPathMiddleware(CSPMiddleware):
    """The strict ``CONTENT_SECURITY_POLICY`` everywhere, plus the additions that
    ``CSP_UPDATES_BY_PATH`` names for a path prefix (the first prefix that matches).

    Only the Django admin (django-unfold: inline scripts and styles, Alpine.js, which evaluates
    its attributes) and the sandbox's dev-only control page need them; our own pages do not.
    ``get_policy_parts`` is django-csp's documented hook; a view's own ``csp_update`` decorator
    still wins over the path's additions."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if parts.update is None and not report_only:
            for prefix, update in settings.CSP_UPDATES_BY_PATH.items():
                if request.path_info.startswith(prefix):
                    parts.update = update
                    break
        return parts


def client_ip(request: HttpRequest) -> str | None:
    """The address login failures count against (``AXES_CLIENT_IP_CALLABLE``).

    Behind one reverse proxy (``TRUST_X_FORWARDED_FOR=1``) every request comes from the proxy,
    so the client is the right-most ``X-Forwarded-For`` entry: the one the proxy appended. The
    entries left of it come from the client and are not trusted (a forged header must not buy an
    attacker fresh attempts). Without a proxy, the peer's address."""
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR")


# Our own page, strict even at /admin/login/: an empty update takes the place of the path's additions.
@csp_update({})
def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """The page a locked-out login gets (``AXES_LOCKOUT_CALLABLE``): HTTP 429, translated, with
    the cool-off in whole minutes (django-axes' own context has it only as a duration)."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}
    return render(request, "security/locked_out.html", context, status=429)
