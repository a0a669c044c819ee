"""The publish tasks and a moment's approvals over the API: scoped, paginated, filtered."""

from __future__ import annotations

from rest_framework.test import APIClient

from campaigns.models import PublishTask
from campaigns.tests import factories as cf


def _client(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user)
    return client


def test_publish_tasks_are_listed_filtered_and_paginated(directory, marketing_admin, approver):
    moment = cf.moment(cf.campaign(marketing_admin))
    variant = cf.variant(moment, associates=[directory.east_associate, directory.south_associate])
    for associate, state in ((directory.east_associate, "published"), (directory.south_associate, "notified")):
        PublishTask.objects.create(moment=moment, variant=variant, associate=associate, state=state)
    api = _client(approver)
    listed = api.get("/api/v1/publish-tasks/", {"moment": str(moment.public_id)}).json()
    assert listed["count"] == 2 and {t["associate"] for t in listed["results"]} == {
        directory.east_associate.userid, directory.south_associate.userid}  # fmt: skip
    published = api.get("/api/v1/publish-tasks/", {"state": "published"}).json()["results"]
    assert [t["associate"] for t in published] == [directory.east_associate.userid]
    assert api.get("/api/v1/publish-tasks/", {"state": "done"}).status_code == 400
    assert api.get("/api/v1/publish-tasks/", {"moment": "not-a-uuid"}).status_code == 400
    assert api.get("/api/v1/publish-tasks/", {"page_size": 1}).json()["next"]


def test_a_moments_approvals_are_its_review_history(directory, marketing_admin, approver):
    from campaigns import services

    moment = cf.moment(cf.campaign(marketing_admin))
    cf.variant(moment, associates=[directory.east_associate])
    services.moment_submit(moment=moment, by=marketing_admin, note="")
    services.moment_decide(moment=moment, by=approver, approve=False, note="换张图")
    history = _client(approver).get(f"/api/v1/moments/{moment.public_id}/approvals/").json()
    assert [(a["decision"], a["note"], a["decided_by"]) for a in history["results"]] == [
        ("rejected", "换张图", approver.username)]  # fmt: skip
