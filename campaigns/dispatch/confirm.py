"""Confirmation (DESIGN.md §5.3): WeCom says who published; ``campaigns.confirmation`` marks their tasks."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from campaigns import confirmation
from campaigns.models import Moment, PublishTask, State

CONFIRM_BATCH = 500  # requested jobs, and WeCom moments, looked at per run
# Tasks that may be published in WeCom: associate-shared ones once requested; enterprise ones from the
# moment WeCom has their task (WeCom pushes it too: the associate may publish before our notification,
# which then is not sent, or without ever opening our page).
CONFIRMABLE = list(confirmation.CONFIRMABLE)


def publish_confirm(*, client, now: dt.datetime | None = None) -> dict[str, int]:
    """Learn the moment_id of requested jobs (associate-shared: one job per task), then ask
    WeCom who published each open WeCom moment (``get_moment_task``, once per moment
    whatever the number of associates) and mark those tasks published. The WeCom calls
    happen outside any transaction; each write is a conditional update."""
    now = now or timezone.now()
    summary = {"jobs_done": 0, "published": 0, "failed": 0}
    jobs = (
        PublishTask.objects.filter(state=PublishTask.State.PUBLISH_REQUESTED, wecom_moment_id="")
        .exclude(wecom_jobid="")
        .filter(moment__mode=Moment.Mode.ASSOCIATE)
        .order_by("publish_requested_at", "id")
        .values_list("pk", "wecom_jobid")[:CONFIRM_BATCH]
    )
    for pk, jobid in list(jobs):
        result = client.get_moment_task_result(jobid)
        if result["status"] != 3:
            continue
        outcome = result["result"] or {}
        if outcome.get("errcode", 0) != 0 or not outcome.get("moment_id"):
            PublishTask.objects.filter(pk=pk, state=PublishTask.State.PUBLISH_REQUESTED).update(
                state=PublishTask.State.FAILED, errcode=outcome.get("errcode"), error=outcome.get("errmsg", "")[:255]
            )
            summary["failed"] += 1
            continue
        PublishTask.objects.filter(pk=pk).update(wecom_moment_id=outcome["moment_id"])
        summary["jobs_done"] += 1
    summary["published"] += _confirm_shared(client=client, now=now)
    open_moments = (
        PublishTask.objects.filter(state__in=CONFIRMABLE, moment__state__in=[State.DISPATCHING, State.LIVE])
        .exclude(wecom_moment_id="")
        .values_list("wecom_moment_id", flat=True)
        .distinct()
        .order_by("wecom_moment_id")[:CONFIRM_BATCH]
    )
    for wecom_moment_id in list(open_moments):
        published = [row["userid"] for page in client.moment_task_pages(wecom_moment_id) for row in page
                     if row["publish_status"] == 1]  # fmt: skip
        summary["published"] += confirmation.publish_tasks_confirm(wecom_moment_id=wecom_moment_id,
                                                                   userids=published, at=now)  # fmt: skip
    return summary


def _confirm_shared(*, client, now: dt.datetime) -> int:
    """Posts shared through the JS-SDK are the member's own moments: find each in
    ``get_moment_list`` (personal, by this creator, since the click, with the very text the page handed
    to WeCom's composer, stored on the task)."""
    confirmed = 0
    shared = list(
        PublishTask.objects.filter(state=PublishTask.State.PUBLISH_REQUESTED, via=PublishTask.Via.JSSDK)
        .exclude(posted_text="")
        .select_related("associate")
        .order_by("publish_requested_at", "id")[:CONFIRM_BATCH]
    )
    for task in shared:
        text = task.posted_text
        start = int(task.publish_requested_at.timestamp()) - 60
        end = min(int(now.timestamp()) + 1, start + 30 * 86400)  # whole seconds: this one included
        found = next((item["moment_id"] for page in client.moment_list_pages(start_time=start, end_time=end,
                                                                            creator=task.associate.userid,
                                                                            filter_type=1)
                      for item in page if (item.get("text") or {}).get("content") == text), "")  # fmt: skip
        if found:  # the member's own moment: WeCom names them its creator
            confirmed += confirmation.publish_tasks_confirm(wecom_moment_id=found, userids=[task.associate.userid],
                                                            at=now, task_ids=[task.pk])  # fmt: skip
    return confirmed
