"""The sandbox answers big requests with a bounded number of queries (a WeCom
call names up to 1000 recipients; the sandbox must not do 3 queries for each)."""

from __future__ import annotations

import json

from django.conf import settings

from wecom.sandbox import models as sm
from wecom.sandbox import protocol


def _send(client, token, users):
    body = {"touser": "|".join(users), "msgtype": "textcard", "agentid": settings.WECOM_AGENT_ID,
            "enable_duplicate_check": 1,
            "textcard": {"title": "提醒", "description": "请发布", "url": "https://example.com/p/1"}}  # fmt: skip
    answer = client.post(f"/wecom-sandbox/cgi-bin/message/send?access_token={token}", data=json.dumps(body),
                         content_type="application/json")  # fmt: skip
    return answer.json()


def test_message_send_queries_do_not_grow_with_recipients(client, db, django_assert_max_num_queries):
    sm.Member.objects.bulk_create([sm.Member(userid=f"m{i}", name=f"m{i}") for i in range(300)])
    token, _ = protocol.issue_token()
    users = [f"m{i}" for i in range(300)]
    with django_assert_max_num_queries(8):
        assert _send(client, token, users)["errcode"] == 0
    with django_assert_max_num_queries(8):
        assert _send(client, token, users)["errcode"] == 0
    outcomes = sm.Message.objects.values_list("outcome", flat=True)
    assert list(outcomes).count("delivered") == 300 and list(outcomes).count("duplicate") == 300
