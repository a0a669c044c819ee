"""The associate's pages: ``/p/<token>/`` opens one publish task, ``/p/today/<token>/`` lists today's."""

from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("p/today/<str:token>/", views.my_tasks, name="my-tasks"),
    path("p/<str:token>/", views.publish, name="publish"),
    path("p/<str:token>/share", views.share, name="share"),
]
