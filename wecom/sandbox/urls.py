"""``/wecom-sandbox/cgi-bin/<WeCom path>``: the sandbox's WeCom API."""

from django.urls import path

from wecom.sandbox import api

ENDPOINTS = [
    api.gettoken,
    api.get_jsapi_ticket,
    api.ticket_get,
    api.department_list,
    api.user_list,
    api.user_list_id,
    api.get_follow_user_list,
    api.externalcontact_list,
    api.externalcontact_get,
    api.batch_get_by_user,
    api.get_corp_tag_list,
    api.upload_attachment,
    api.message_send,
]

app_name = "wecom_sandbox"
urlpatterns = [path(f"cgi-bin/{view.wecom_path}", view, name=view.wecom_path) for view in ENDPOINTS]
