"""The associate's pages: ``/p/<token>/`` opens one publish task."""

from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [path("p/<str:token>/", views.publish, name="publish")]
