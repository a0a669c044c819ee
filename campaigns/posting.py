"""What a WeCom moment task posts, shared by the associate's click (``campaigns.dispatch.click``) and enterprise
mode (``campaigns.enterprise``): the task's approved version, its attachments, its audience; and the backoff of
a WeCom call that failed for a while."""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from campaigns import versions
from campaigns.models import PublishTask

MEDIA_VALID = dt.timedelta(days=3) - dt.timedelta(hours=1)  # WeCom keeps attachments 3 days; renew an hour early


class PublishRefused(Exception):
    """The click cannot become a WeCom task (expired, cancelled, WeCom refused); the message is for the associate."""


def task_content(task: PublishTask) -> versions.Frozen:
    """What ``task`` posts: its approved version, never the variant as it stands."""
    if task.version_id is None:
        raise PublishRefused("unapproved")
    return versions.frozen(task.version)


def _media_id(asset, client) -> str:
    now = timezone.now()
    if asset.wecom_media_id and asset.wecom_uploaded_at and asset.wecom_uploaded_at > now - MEDIA_VALID:
        return asset.wecom_media_id
    media_id = client.upload_attachment(filename=asset.file.name.rsplit("/", 1)[-1], content=asset.file.read(),
                                        content_type="video/mp4" if asset.kind == "video" else "image/jpeg",
                                        media_type=asset.kind)  # fmt: skip
    type(asset).objects.filter(pk=asset.pk).update(wecom_media_id=media_id, wecom_uploaded_at=now)
    return media_id


def wecom_attachments(content: versions.Frozen, client, *, link_url: str = "") -> list[dict]:
    """The attachments of ``add_moment_task`` from an approved version; ``link_url``: the link attachment's short
    URL (campaigns.links)."""
    if content.video is not None:
        return [{"msgtype": "video", "video": {"media_id": _media_id(content.video, client)}}]
    if content.link_url:
        link = {"title": content.link_title, "url": link_url or content.link_url}
        if content.link_cover is not None:
            link["media_id"] = _media_id(content.link_cover, client)
        return [{"msgtype": "link", "link": link}]
    return [{"msgtype": "image", "image": {"media_id": _media_id(photo, client)}} for photo in content.images]


def visible_range(content: versions.Frozen, senders: list[str]) -> dict:
    """add_moment_task's audience: these associates, and the approved version's customer tags unless it is for
    all contacts."""
    visible: dict = {"sender_list": {"user_list": senders}}
    if content.tag_ids:
        visible["external_contact_list"] = {"tag_list": content.tag_ids}
    return visible


def backoff(attempts: int) -> float:
    """Capped exponential backoff with jitter: 5 s, 10 s, 20 s … at most 5 minutes."""
    base = min(300.0, 5.0 * 2 ** max(0, attempts - 1))
    return base / 2 + random.random() * base / 2
