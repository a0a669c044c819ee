from django.urls import path

from staff import views

app_name = "staff"
urlpatterns = [path("wecom/callback/", views.wecom_callback, name="wecom_callback")]
