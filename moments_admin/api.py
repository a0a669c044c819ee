"""What every API view shares: permissions, pagination and the one exception
handler that turns domain errors into 400s with plain messages (STYLE.md §8)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import permissions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from campaigns.services import WorkflowError


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, including ``view`` for reads (DRF's default lets any user read)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


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


# --- errors outside the API's views, under /api/ ------------------------------------------------
def not_found(request, exception=None):
    """A URL under /api/ that matches nothing answers JSON like the API's own 404s; other paths
    get Django's page."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def server_error(request):
    from django.http import JsonResponse
    from django.views.defaults import server_error as page_server_error

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error: it has been logged."}, status=500)
    return page_server_error(request)
