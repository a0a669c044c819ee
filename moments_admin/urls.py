from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView

from moments_admin.health import healthz, healthz_queues

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("healthz/queues", healthz_queues, name="healthz-queues"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("dashboard/", include("analytics.urls")),
    path("api/v1/", include(("campaigns.api", "api"))),
    path("api/v1/", include(("analytics.api", "analytics-api"))),
    path("api/v1/", include(("analytics.dashboard_api", "dashboard-api"))),
    path("api/v1/", include(("staff.api", "directory-api"))),
    path("api/v1/", include(("campaigns.task_api", "task-api"))),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("staff.urls")),
    path("", include("campaigns.urls")),
]

if settings.MOMENTS_SERVE_MEDIA:
    # Uploaded photos for the embedded setup (make run): the associate's page and WeCom's client fetch them.
    # Production leaves /media/ to the reverse proxy (docs/operations.md).
    def media(request, path):
        return serve(request, path, document_root=settings.MEDIA_ROOT)  # read per request: tests move it

    urlpatterns.append(re_path(r"^media/(?P<path>.*)$", media, name="media"))

if settings.WECOM_SANDBOX:
    # The local WeCom stand-in (never in production: the production settings refuse it).
    urlpatterns.append(path("wecom-sandbox/", include("wecom.sandbox.urls")))

handler400 = "moments_admin.api.bad_request"
handler404 = "moments_admin.api.not_found"
handler500 = "moments_admin.api.server_error"
