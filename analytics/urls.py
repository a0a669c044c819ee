"""The managers' dashboards, under ``/dashboard/``."""

from django.urls import path

from analytics import views

app_name = "dashboards"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("", views.index, name="index"),
    path("campaigns/<uuid:public_id>/", views.campaign, name="campaign"),
    path("campaigns/<uuid:public_id>/leaderboard/", views.leaderboard, name="leaderboard"),
    path("campaigns/<uuid:public_id>/edited/", views.edited, name="edited"),
    path("campaigns/<uuid:public_id>/forecast/", views.forecast, name="forecast"),
    path("campaigns/<uuid:public_id>/forecast/refresh/", views.forecast_refresh, name="forecast-refresh"),
    path("readiness/", views.readiness, name="readiness"),
    path("associates/<str:userid>/", views.associate, name="associate"),
    path("customers/", views.customers, name="customers"),
    path("customers/<str:external_userid>/", views.customer, name="customer"),
]
