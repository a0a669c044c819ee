"""The associate's pages: ``/p/<token>/`` opens one publish task, ``/p/today/<token>/`` lists today's.
Customers' short links: ``/go/<code>`` counts a click and redirects; ``/go/<code>/qr.png|svg`` is its QR code."""

from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("p/today/<str:token>/", views.my_tasks, name="my-tasks"),
    path("p/<str:token>/", views.publish, name="publish"),
    path("p/<str:token>/share", views.share, name="share"),
    path("go/<str:code>", views.go, name="go"),
    path("go/<str:code>/qr.png", views.go_qr, {"kind": "png"}, name="go-qr-png"),
    path("go/<str:code>/qr.svg", views.go_qr, {"kind": "svg"}, name="go-qr-svg"),
    # Anything else under go/ (a cut or mangled link): the same friendly page.
    path("go/", views.go_missing),
    path("go/<path:rest>", views.go_missing),
]
