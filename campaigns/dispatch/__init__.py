"""Dispatch and notification (DESIGN.md §5.3): exactly once, at the right time,
within WeCom's limits. One module per concern:

- ``tokens``: the signed links of a task and of an associate's open tasks of the day.
- ``targets``: who a variant reaches.
- ``due``: ``dispatch_due`` (beat, every ~30 s) claims due scheduled moments with
  ``SELECT … FOR UPDATE SKIP LOCKED`` and a conditional state change, creates
  every PublishTask in bulk (unique per variant × associate, so a second run
  inserts nothing) and, after commit, enqueues notify batches.
- ``notify``: ``publish_task_notify`` claims one task with a conditional update
  (pending → notifying), sends the textcard with WeCom's duplicate check on and
  records the msgid. Transient errors put the task back to pending for a retry;
  permanent ones fail it with the errcode and a reason. A crash between claim
  and send leaves it "notifying": the reconciler puts it back after
  ``MOMENTS_STALE_CLAIM_SECONDS``, and WeCom's duplicate check (same card within the interval)
  keeps a re-send from reaching the associate twice.
  Rates: the client's global bucket per endpoint, and a per-member budget below
  WeCom's silent-drop limits (30 a minute, 1000 an hour; wecom-api.md §3.3).
- ``reconcile``: stale claims back, lost jobs queued again, moments made live and closed.
- ``reminders``: the reminders of associates notified who have not published.
- ``click``: the associate's Publish (a server-created WeCom task, or a JS-SDK share).
- ``confirm``: WeCom says who published.

What a WeCom moment task posts (shared with enterprise mode, ``campaigns.enterprise``) is
``campaigns.posting``. The names below are the package's interface: import them from here.
The modules queue Celery tasks by name (``common.tasks.task_named``): ``campaigns.tasks``
imports them, never the other way.
"""

from campaigns.dispatch.click import (
    PersonalTouchRefused,
    publish_task_open,
    publish_task_request,
    publish_task_share,
    publish_task_share_undo,
)
from campaigns.dispatch.confirm import publish_confirm
from campaigns.dispatch.due import dispatch_due, moment_tasks_create, notify_enqueue
from campaigns.dispatch.notify import (
    NotifyRetry,
    in_quiet_hours,
    publish_task_notify,
    sibling_tasks,
    task_variant_name,
)
from campaigns.dispatch.reconcile import moments_close_expired, reconcile
from campaigns.dispatch.reminders import reminders_send
from campaigns.dispatch.targets import targeted_associate_ids, variant_associate_ids
from campaigns.dispatch.tokens import (
    LinkInvalid,
    my_open_tasks,
    my_tasks_from_token,
    my_tasks_token,
    publish_link,
    publish_link_token,
    publish_task_from_token,
)
from campaigns.posting import PublishRefused, backoff, task_content, visible_range, wecom_attachments

__all__ = [
    "LinkInvalid",
    "NotifyRetry",
    "PersonalTouchRefused",
    "PublishRefused",
    "backoff",
    "dispatch_due",
    "in_quiet_hours",
    "moment_tasks_create",
    "moments_close_expired",
    "my_open_tasks",
    "my_tasks_from_token",
    "my_tasks_token",
    "notify_enqueue",
    "publish_confirm",
    "publish_link",
    "publish_link_token",
    "publish_task_from_token",
    "publish_task_notify",
    "publish_task_open",
    "publish_task_request",
    "publish_task_share",
    "publish_task_share_undo",
    "reconcile",
    "reminders_send",
    "sibling_tasks",
    "targeted_associate_ids",
    "task_content",
    "task_variant_name",
    "variant_associate_ids",
    "visible_range",
    "wecom_attachments",
]
