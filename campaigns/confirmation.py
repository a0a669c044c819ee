"""Publication confirmed by WeCom (DESIGN.md §5.3–5.5): the one place where a PublishTask
becomes ``published``.

A task is published only when WeCom names its associate as a publisher of *that* WeCom
moment: ``get_moment_task`` for a moment made by ``add_moment_task`` (enterprise mode has
one WeCom moment per variant, associate-shared tasks one per task), the creator of a
personal moment for a post shared through the JS-SDK. Matching on our moment and the
associate instead would confirm an associate's other variants of the same moment, which
they never published.

Results sync (``analytics.sync``) and dispatch's confirmation both call
``publish_tasks_confirm``; each call is one conditional UPDATE per thousand associates
(only tasks still in a confirmable state change), so concurrent or repeated calls
confirm a task once, at the time of the first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from campaigns.models import PublishTask

# Tasks that may be published in WeCom: associate-shared ones once requested; enterprise ones from the
# moment WeCom has their task (WeCom pushes it too: the associate may publish before our notification,
# which then is not sent, or without ever opening our page). Expired, failed and cancelled tasks stay so.
CONFIRMABLE = (
    PublishTask.State.PENDING,
    PublishTask.State.NOTIFYING,
    PublishTask.State.NOTIFIED,
    PublishTask.State.OPENED,
    PublishTask.State.PUBLISH_REQUESTED,
)
USERIDS_PER_UPDATE = 1000


def publish_tasks_confirm(
    *, wecom_moment_id: str, userids: Iterable[str], at: dt.datetime, task_ids: Iterable[int] | None = None
) -> int:
    """WeCom says these members (``userids``, any case) published WeCom moment
    ``wecom_moment_id``: their tasks of that WeCom moment that are still confirmable become
    published at ``at``. Returns how many tasks changed.

    ``task_ids``: the tasks are known but not yet tied to the WeCom moment (a post shared
    through the JS-SDK, found in ``get_moment_list``): those tasks, if their associate is
    among ``userids``, are tied to ``wecom_moment_id`` and published in the same UPDATE."""
    if not wecom_moment_id:
        return 0
    names = sorted({userid.lower() for userid in userids if userid})
    if task_ids is not None:
        tasks = PublishTask.objects.filter(pk__in=list(task_ids))
        values = {"wecom_moment_id": wecom_moment_id}
    else:
        tasks = PublishTask.objects.filter(wecom_moment_id=wecom_moment_id)
        values = {}
    confirmed = 0
    for start in range(0, len(names), USERIDS_PER_UPDATE):
        confirmed += tasks.filter(
            state__in=CONFIRMABLE, associate__userid__in=names[start : start + USERIDS_PER_UPDATE]
        ).update(state=PublishTask.State.PUBLISHED, published_at=at, **values)
    if confirmed:
        _rollups_mark(at=at, tasks=tasks)
    return confirmed


def _rollups_mark(*, at: dt.datetime, tasks) -> None:
    """What was published changes the day's losses and the campaign's funnel: their roll-up
    buckets are marked (analytics reads the tasks itself; a mark is all it needs from here).
    The mark commits with the UPDATEs, or just after them in autocommit: either way a run
    that takes it sees what was published."""
    from analytics import rollups  # at call time: analytics imports campaigns (analytics.sync imports this module)
    from analytics.rules import local_day  # at call time: an upward import (DESIGN §2), the allowance kept narrow

    campaigns = list(tasks.values_list("moment__campaign_id", flat=True).distinct())
    rollups.mark(days=[local_day(at)[0]], campaign_ids=campaigns)
