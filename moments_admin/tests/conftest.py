"""A small world for the API's conformance tests: every kind of object the API answers with,
in the shapes that matter to the schema (a variant without a link cover, video or call to
action, and one with them; a call to action without a tier; a plan that went out, with
publish tasks, an approval, deliveries, roll-ups and a forecast snapshot)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from analytics import rollups, snapshots
from analytics.models import ForecastAssociateDay, ForecastSnapshot, PlatformRules
from analytics.tests import worlds
from campaigns.models import Approval, CallToAction, Campaign, Hashtag, MediaAsset, Moment, PublishTask, State, Variant
from campaigns.tests import factories as cf
from staff.models import DirectorySyncRun
from staff.roles import MARKETING_ADMIN
from staff.tests import factories


@dataclass
class ApiWorld:
    directory: object
    admin: object
    token: str
    draft: Campaign
    draft_moment: Moment
    bare: Variant  # no link cover, video or call to action
    dressed: Variant  # a photo, a hashtag, a call to action, a tag and a department
    live: Campaign
    live_moment: Moment
    photo: MediaAsset
    cta: CallToAction  # without a tier
    tier_cta: CallToAction


@pytest.fixture
def api_world(directory) -> ApiWorld:
    today = timezone.localdate()
    admin = factories.user("fuzzer", role=MARKETING_ADMIN)
    token = Token.objects.create(user=admin).key
    PlatformRules.objects.create(effective_from=today - dt.timedelta(days=60), feed_cap=3, unverified_reach_limit=2)
    photo = cf.photo_asset()
    tier_cta = CallToAction.objects.create(kind=CallToAction.Kind.TIER_OFFER, label="金卡专享", tier=directory.gold)
    Hashtag.objects.get_or_create(text="情人节")

    draft = cf.campaign(admin)
    draft_moment = cf.moment(draft)
    cta = cf.discount(draft_moment.expires_at)
    bare = cf.variant(draft_moment, associates=[directory.east_associate])
    dressed = cf.variant(draft_moment, name="金卡", departments=[directory.east_store], tags=[directory.gold],
                         hashtags=["情人节"], images=[photo], cta=cta)  # fmt: skip

    # A plan that went out two days ago: tasks, an approval, what WeCom reported, the roll-ups.
    day = today - dt.timedelta(days=2)
    live = cf.campaign(admin, name="春节 2027", days_ahead=-3, length=5)
    live_moment = Moment.objects.create(campaign=live, title="上新", publish_at=worlds.at(day, 10),
                                        expires_at=worlds.at(day, 22), state=State.LIVE)  # fmt: skip
    people = [directory.east_associate, directory.south_associate]
    variant = cf.variant(live_moment, associates=people)
    PublishTask.objects.create(moment=live_moment, variant=variant, associate=people[0],
                               state=PublishTask.State.PUBLISHED, published_at=worlds.at(day, 11))  # fmt: skip
    PublishTask.objects.create(moment=live_moment, variant=variant, associate=people[1])
    Approval.objects.create(campaign=live, moment=live_moment, decision=Approval.Decision.APPROVED, decided_by=admin)
    post = worlds.post("wm-fuzz", moment=live_moment, day=day)
    worlds.deliver(post, people[0], [directory.east_customer, directory.shared_customer], day)
    rollups.rollups_refresh()
    snapshot = ForecastSnapshot.objects.create(campaign=live, computed_at=timezone.now(), reach=2, contacts=4)
    ForecastAssociateDay.objects.create(snapshot=snapshot, associate=people[0], day=day, deliveries=2)
    snapshots.recompute(draft.pk)  # the draft's forecast as the worker keeps it: the snapshot, its job
    DirectorySyncRun.objects.create(status=DirectorySyncRun.Status.SUCCEEDED, finished_at=timezone.now(),
                                    counts={"associates": 2})  # fmt: skip
    return ApiWorld(directory, admin, token, draft, draft_moment, bare, dressed, live, live_moment, photo, cta,
                    tier_cta)  # fmt: skip
