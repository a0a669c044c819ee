"""``/wecom-sandbox/cgi-bin/<WeCom path>``: the sandbox's WeCom API;
``/wecom-sandbox/control/…``: its control plane (not part of WeCom)."""

from django.urls import path

from wecom.sandbox import api, contact_ways, control, moments, oauth

ENDPOINTS = [
    api.gettoken,
    api.get_jsapi_ticket,
    api.ticket_get,
    oauth.getuserinfo,
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
    moments.add_moment_task,
    moments.get_moment_task_result,
    moments.cancel_moment_task,
    moments.get_moment_list,
    moments.get_moment_task,
    moments.get_moment_customer_list,
    moments.get_moment_send_result,
    moments.get_moment_comments,
    contact_ways.add_contact_way,
    contact_ways.send_welcome_msg,
]

app_name = "wecom_sandbox"
urlpatterns = [path(f"cgi-bin/{view.wecom_path}", view, name=view.wecom_path) for view in ENDPOINTS]

# The control plane: not WeCom's, clearly apart under control/.
urlpatterns += [
    path("control/", control.index, name="control"),
    path("control/state", control.state, name="control-state"),
    path("control/seed", control.seed, name="control-seed"),
    path("control/reset", control.reset, name="control-reset"),
    path("control/follows", control.follow_add, name="control-follow-add"),
    path("control/follows/remove", control.follow_remove, name="control-follow-remove"),
    path("control/members/<str:userid>", control.member_update, name="control-member"),
    path("control/members/<str:userid>/publish", control.member_publish, name="control-member-publish"),
    path("control/members/<str:userid>/moments", control.member_post, name="control-member-post"),
    path("control/members/<str:userid>/messages", control.member_messages, name="control-member-messages"),
    path("control/contact_ways/<str:config_id>/scan", control.contact_way_scan, name="control-contact-way-scan"),
    path("control/customers/<str:external_userid>/welcome", control.customer_welcome, name="control-customer-welcome"),
    path("control/customers/<str:external_userid>/likes", control.customer_interact, {"kind": "like"},
         name="control-customer-like"),
    path("control/customers/<str:external_userid>/comments", control.customer_interact, {"kind": "comment"},
         name="control-customer-comment"),
    path("control/faults", control.faults, name="control-faults"),
    path("control/tick", control.tick, name="control-tick"),
    path("control/callbacks", control.callbacks, name="control-callbacks"),
    path("control/jssdk/agent-config", control.jssdk_agent_config, name="control-jssdk-agent-config"),
    path("control/jssdk/share", control.jssdk_share, name="control-jssdk-share"),
    path("jssdk.js", control.jssdk_script, name="jssdk"),
    # WeCom serves a contact way's QR image from its CDN; the sandbox draws it:
    path("contact_way_qr/<str:config_id>.png", contact_ways.qr_png, name="contact-way-qr"),
    # open.weixin.qq.com's page, played for a browser that plays the WeCom client:
    path("connect/oauth2/authorize", oauth.authorize, name="oauth-authorize"),
]  # fmt: skip
