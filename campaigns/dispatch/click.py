"""The associate's click (DESIGN.md §5.3): Publish on the task's page becomes a WeCom moment task created by the
server, or a post shared through the JS-SDK inside the WeCom client. Neither makes the task published: WeCom's
confirmation does (campaigns.dispatch.confirm)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import links, rules
from campaigns.models import Moment, PublishTask, State
from campaigns.posting import PublishRefused, task_content, visible_range, wecom_attachments
from campaigns.selectors import forbidden_words
from wecom.errors import PermanentError, TransientError


class PersonalTouchRefused(PublishRefused):
    """What the associate wrote breaks the brand's rules: ``problems`` says why, in plain words. Nothing was sent."""

    def __init__(self, problems: list[str]):
        super().__init__("touch")
        self.problems = problems


def publish_task_open(task: PublishTask, *, now: dt.datetime | None = None) -> None:
    PublishTask.objects.filter(pk=task.pk, state=PublishTask.State.NOTIFIED).update(
        state=PublishTask.State.OPENED, opened_at=now or timezone.now()
    )


def _publish_claim(task: PublishTask, copy: str | None, *, now: dt.datetime,
                   via: str) -> tuple[str, links.PostedLinks] | None:  # fmt: skip
    """Checks, then the claim (→ publish_requested); returns the text to post and the associate's
    short links (created here if need be), or None when it was already requested (a second click
    changes nothing)."""
    moment = task.moment
    if moment.state == State.CANCELLED or task.state == PublishTask.State.CANCELLED:
        raise PublishRefused("cancelled")
    if moment.mode == Moment.Mode.ENTERPRISE:
        raise PublishRefused("enterprise")  # WeCom already pushed the task: it is published in WeCom
    if moment.expires_at <= now:
        raise PublishRefused("expired")
    content = task_content(task)
    touch = rules.PersonalTouch(policy=content.personal_touch, max_chars=content.personal_line_max)
    written = "" if touch.policy == "none" else (copy or "").strip()
    if touch.policy == "edit" and written == content.copy.strip():
        written = ""  # the brand's copy sent back unchanged is no edit
    if problems := rules.personal_touch_errors(written, touch, forbidden=forbidden_words()):
        raise PersonalTouchRefused(problems)
    text = rules.personal_text(content.copy, written, touch)
    tracked = links.posted_links(content, associate=task.associate)
    posted = rules.posted_text(text, content.hashtags, tracked.cta_line)
    if len(posted) > rules.COPY_MAX_CHARS:
        raise PersonalTouchRefused([_("The text is %(n)s characters with the call to action and the hashtags; WeCom "
                                      "takes at most %(max)s. Please shorten it.")
                                    % {"n": len(posted), "max": rules.COPY_MAX_CHARS}])  # fmt: skip
    claimable = [PublishTask.State.NOTIFIED, PublishTask.State.OPENED, PublishTask.State.PENDING]
    claimed = PublishTask.objects.filter(pk=task.pk, state__in=claimable).update(
        state=PublishTask.State.PUBLISH_REQUESTED, publish_requested_at=now, edited_copy=written, posted_text=posted,
        via=via,
    )  # fmt: skip
    return (posted, tracked) if claimed else None


def publish_task_request(*, task: PublishTask, copy: str | None, client, now: dt.datetime | None = None) -> bool:
    """The associate pressed Publish outside the WeCom client: create the WeCom moment task
    for them. Returns False when it was already requested (a second click changes nothing).
    The task becomes ``published`` only when WeCom confirms it, never here."""
    now = now or timezone.now()
    claimed = _publish_claim(task, copy, now=now, via=PublishTask.Via.SERVER)
    if claimed is None:
        return False
    posted, tracked = claimed
    content = task_content(task)
    # No transaction is held across the WeCom calls (uploads, task creation).
    try:
        jobid = client.add_moment_task(text=posted,
                                       attachments=wecom_attachments(content, client, link_url=tracked.attachment_url),
                                       visible_range=visible_range(content, [task.associate.userid]))  # fmt: skip
    except (TransientError, PermanentError) as error:
        PublishTask.objects.filter(pk=task.pk, state=PublishTask.State.PUBLISH_REQUESTED).update(
            state=PublishTask.State.OPENED, publish_requested_at=None, errcode=error.errcode, error=error.reason[:255]
        )
        raise PublishRefused("wecom") from error
    PublishTask.objects.filter(pk=task.pk).update(wecom_jobid=jobid, errcode=None, error="")
    return True


def publish_task_share(*, task: PublishTask, copy: str | None, public_url: str,
                       now: dt.datetime | None = None) -> dict | None:  # fmt: skip
    """The associate pressed Publish inside the WeCom client: the page will call the JS-SDK's
    ``shareToExternalMoments`` with what this returns (text and attachments; photos by
    URL). None when it was already requested. Confirmed like any post: by WeCom."""
    now = now or timezone.now()
    content = task_content(task)
    if content.video is not None:
        raise PublishRefused("video")  # shareToExternalMoments takes photos or a link: the server posts a video
    if content.tag_ids:
        # shareToExternalMoments carries no visible range: a tagged variant would reach whoever the associate
        # leaves selected in WeCom's composer. Only a server-created task with its tag_list enforces the audience.
        raise PublishRefused("tagged")
    claimed = _publish_claim(task, copy, now=now, via=PublishTask.Via.JSSDK)
    if claimed is None:
        return None
    posted, tracked = claimed
    base = public_url.rstrip("/")
    if content.link_url:
        link = {"title": content.link_title, "url": tracked.attachment_url or content.link_url}
        if content.link_cover is not None:
            link["imgUrl"] = base + content.link_cover.file.url
        attachments = [{"msgtype": "link", "link": link}]
    else:
        attachments = [{"msgtype": "image", "image": {"imgUrl": base + photo.file.url}} for photo in content.images]
    return {"text": {"content": posted}, "attachments": attachments}


def publish_task_share_undo(task: PublishTask) -> bool:
    """The associate closed WeCom's composer without posting: the task is open again."""
    return bool(
        PublishTask.objects.filter(
            pk=task.pk, state=PublishTask.State.PUBLISH_REQUESTED, via=PublishTask.Via.JSSDK
        ).update(state=PublishTask.State.OPENED, publish_requested_at=None, via="")
    )
