"""The world the permission matrix (``test_permissions.py``) asks its questions in: a brand
with two regions, A and B, people and results in both, and a user per role.

- HQ → Region A → Store A, and HQ → Region B → Store B; an associate per store (B's is
  unverified), a customer of each, and one customer who added both.
- ``campaign_a`` went out to region A only: a live moment with a publish task for A's
  associate (their signed links are the "associate" role), a tracked call to action with a
  click, a channel QR code, an approval and a state change, and a draft moment still being
  written. ``campaign_shared`` went out to both regions.
- Results as results sync stores them (posts, deliveries, a like), the roll-ups refreshed,
  and a forecast snapshot of each campaign: what the dashboards and the reach API read.
- Marketing admin, approver, and a manager of each region (staff.roles).

Every object the matrix names by URL is inside region A (or brand-wide), so a manager of
region B must get a 404 wherever the object is A's. Names are markers: a page that shows
another region's people shows these strings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule
from rest_framework.authtoken.models import Token, TokenProxy

from analytics import forecast, rollups, sync
from analytics.models import ForecastJob, PlatformRules, Post
from campaigns import dispatch, links
from campaigns.models import (
    Approval,
    CallToAction,
    Campaign,
    ChannelCode,
    ForbiddenWord,
    Hashtag,
    MediaAsset,
    Moment,
    PublishTask,
    State,
    StateChange,
    Tone,
    TrackedLink,
    Variant,
)
from campaigns.tests import factories as cf
from staff.models import (
    Associate,
    CallbackEvent,
    Contact,
    Customer,
    CustomerTag,
    CustomerTagGroup,
    Department,
    DirectorySyncRun,
    User,
)
from staff.roles import APPROVER, MANAGER, MARKETING_ADMIN
from staff.tests import factories

# The roles, as the matrix's columns.
ANONYMOUS = "anonymous"
ASSOCIATE = "associate"  # no login: the associate's signed links (publish page, "my moments today")
MANAGER_A = "manager_a"
MANAGER_B = "manager_b"
MARKETING = "marketing"
APPROVER_ROLE = "approver"
ROLES = (ANONYMOUS, ASSOCIATE, MANAGER_A, MANAGER_B, MARKETING, APPROVER_ROLE)
# Roles with a session (the others are anonymous browsers).
STAFF_ROLES = (MANAGER_A, MANAGER_B, MARKETING, APPROVER_ROLE)
GROUP_OF_ROLE = {MANAGER_A: MANAGER, MANAGER_B: MANAGER, MARKETING: MARKETING_ADMIN, APPROVER_ROLE: APPROVER}

# Markers: each appears only on pages that show that region's people.
ASSOCIATE_A_NAME = "Annalise-of-region-A"
ASSOCIATE_B_NAME = "Bartholomew-of-region-B"
CUSTOMER_A_NAME = "Cordelia-customer-of-A"
CUSTOMER_B_NAME = "Desmond-customer-of-B"
CAMPAIGN_A_NAME = "Campaign-for-region-A-only"


@dataclass
class World:
    hq: Department
    region_a: Department
    store_a: Department
    region_b: Department
    store_b: Department
    associate_a: Associate
    associate_b: Associate
    customer_a: Customer
    customer_b: Customer
    customer_shared: Customer
    contact_a: Contact
    tag_group: CustomerTagGroup
    tag: CustomerTag
    users: dict[str, User]
    campaign_a: Campaign
    campaign_shared: Campaign
    moment_a: Moment  # live, with A's publish task
    draft_a: Moment  # still being written (editable)
    variant_a: Variant
    draft_variant_a: Variant
    task_a: PublishTask
    link_a: TrackedLink
    channel_code_a: ChannelCode
    approval: Approval
    state_change: StateChange
    tone: Tone
    hashtag: Hashtag
    forbidden_word: ForbiddenWord
    cta: CallToAction
    media: MediaAsset
    rules: PlatformRules
    sync_run: DirectorySyncRun
    callback_event: CallbackEvent
    token: TokenProxy
    beat: dict[str, object]

    @property
    def publish_token(self) -> str:
        return dispatch.publish_link_token(self.task_a)

    @property
    def my_tasks_token(self) -> str:
        return dispatch.my_tasks_token(self.associate_a)

    def admin_pk(self, model) -> object:
        """The primary key the admin's URLs name the object by (DRF's token admin: its user's)."""
        found = self.admin_object(model)
        return found.user_id if isinstance(found, TokenProxy) else found.pk

    def admin_object(self, model) -> object:
        """The object each admin model's change, delete and history pages are asked about:
        region A's for the scoped directory models, brand-wide ones otherwise."""
        return {
            Department: self.region_a,
            Associate: self.associate_a,
            Customer: self.customer_a,
            Contact: self.contact_a,
            CustomerTagGroup: self.tag_group,
            CustomerTag: self.tag,
            User: self.users[MANAGER_A],
            DirectorySyncRun: self.sync_run,
            CallbackEvent: self.callback_event,
            Tone: self.tone,
            Hashtag: self.hashtag,
            ForbiddenWord: self.forbidden_word,
            CallToAction: self.cta,
            MediaAsset: self.media,
            Approval: self.approval,
            StateChange: self.state_change,
            Campaign: self.campaign_a,
            Moment: self.draft_a,
            PublishTask: self.task_a,
            Variant: self.draft_variant_a,
            PlatformRules: self.rules,
            TokenProxy: self.token,
            **{type(obj): obj for obj in self.beat.values()},
        }.get(model) or model.objects.order_by("pk").first()


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_current_timezone())


def _gone_out(campaign: Campaign, *, title: str, associates: list[Associate], stores: list[Department], cta=None):
    """A live moment of ``campaign`` published by ``associates``, with a publish task each."""
    now = timezone.now()
    moment = Moment.objects.create(campaign=campaign, title=title, publish_at=now - dt.timedelta(hours=1),
                                   expires_at=now + dt.timedelta(hours=10), state=State.LIVE)  # fmt: skip
    variant = cf.variant(moment, departments=stores, cta=cta, name=f"{title} variant")
    cf.approved_again(moment)
    variant.refresh_from_db()
    tasks = [
        PublishTask.objects.create(
            moment=moment,
            variant=variant,
            associate=associate,
            notified_at=now,
            state=PublishTask.State.NOTIFIED,
            version=variant.approved_version,
        )  # fmt: skip
        for associate in associates
    ]
    return moment, variant, tasks


def _results(moment: Moment, deliveries: dict[Associate, list[Customer]], *, day: dt.date) -> Post:
    """What results sync would store: the moment's post and its deliveries (one like)."""
    post = Post.objects.create(wecom_moment_id=f"wm-post-{moment.pk}", kind=Post.Kind.ENTERPRISE, moment=moment,
                               created_at=_at(day, 8))  # fmt: skip
    for associate, customers in deliveries.items():
        sync.deliveries_store(post_id=post.pk, moment_id=moment.pk, associate_id=associate.pk, day=day,
                              external_userids=[c.external_userid for c in customers])  # fmt: skip
        stamp = int(_at(day, 12).timestamp())
        sync.engagements_store(post=post, associate_id=associate.pk, comments={
            "like_list": [{"external_userid": customers[0].external_userid, "create_time": stamp}],
            "comment_list": []})  # fmt: skip
    return post


def world_build() -> World:
    today = timezone.localdate()
    # --- the directory --------------------------------------------------------------------------
    hq = factories.department("HQ", kind=Department.Kind.HEADQUARTERS)
    region_a = factories.department("Region-A", parent=hq, kind=Department.Kind.REGION)
    region_b = factories.department("Region-B", parent=hq, kind=Department.Kind.REGION)
    store_a = factories.department("Store-A", parent=region_a)
    store_b = factories.department("Store-B", parent=region_b)
    associate_a = factories.associate(ASSOCIATE_A_NAME, departments=[store_a])
    associate_b = factories.associate(ASSOCIATE_B_NAME, departments=[store_b], verified=False)
    customer_a = factories.customer(CUSTOMER_A_NAME)
    customer_b = factories.customer(CUSTOMER_B_NAME)
    shared = factories.customer("Shared-customer")
    tag = factories.tag("Gold")
    contact_a = factories.contact(associate_a, customer_a, tags=[tag])
    factories.contact(associate_a, shared)
    factories.contact(associate_b, customer_b)
    factories.contact(associate_b, shared, tags=[tag])

    # --- the roles --------------------------------------------------------------------------------
    users = {
        MARKETING: factories.user("perm-marketing", role=MARKETING_ADMIN),
        APPROVER_ROLE: factories.user("perm-approver", role=APPROVER),
        MANAGER_A: factories.user("perm-manager-a", role=MANAGER, manages=[region_a]),
        MANAGER_B: factories.user("perm-manager-b", role=MANAGER, manages=[region_b]),
    }

    # --- the libraries ----------------------------------------------------------------------------
    cf.ensure_tones()
    tone = Tone.objects.order_by("order", "pk").first()
    hashtag = Hashtag.objects.get_or_create(text="情人节", defaults={"kind": Hashtag.Kind.CAMPAIGN})[0]
    forbidden_word = ForbiddenWord.objects.get_or_create(word="最便宜")[0]
    media = cf.photo_asset()

    # --- campaigns --------------------------------------------------------------------------------
    marketing = users[MARKETING]
    campaign_a = cf.campaign(marketing, name=CAMPAIGN_A_NAME, days_ahead=-1, length=4)
    cta = CallToAction.objects.create(kind=CallToAction.Kind.LINK, label="Shop the roses",
                                      url="https://brand.example.com/roses")  # fmt: skip
    moment_a, variant_a, (task_a,) = _gone_out(campaign_a, title="A live", associates=[associate_a],
                                               stores=[store_a], cta=cta)  # fmt: skip
    draft_a = cf.moment(campaign_a, day=2, title="A draft")
    draft_variant_a = cf.variant(draft_a, departments=[store_a], name="A draft variant")
    link_a = links.tracked_link_for(moment=moment_a, associate=associate_a, url=cta.url,
                                    purpose=TrackedLink.Purpose.CTA)  # fmt: skip
    links.link_click_record(link=links.tracked_link_get(link_a.code), user_agent="Mozilla/5.0 (iPhone)")
    channel_code_a = ChannelCode.objects.create(
        campaign=campaign_a,
        associate=associate_a,
        state="perm-a-channel",
        config_id="cfg-a",
        qr_code="https://qr.example/a",
    )
    approval = Approval.objects.create(campaign=campaign_a, moment=moment_a, decided_by=users[APPROVER_ROLE],
                                       decision=Approval.Decision.APPROVED)  # fmt: skip
    state_change = StateChange.objects.create(campaign=campaign_a, moment=moment_a, from_state=State.SCHEDULED,
                                              to_state=State.DISPATCHING)  # fmt: skip

    campaign_shared = cf.campaign(marketing, name="Campaign-for-both-regions", days_ahead=-1, length=4)
    moment_shared, _variant, _tasks = _gone_out(campaign_shared, title="Both live", associates=[associate_a,
                                                associate_b], stores=[store_a, store_b])  # fmt: skip

    # --- results, roll-ups, forecast snapshots -----------------------------------------------------
    _results(moment_a, {associate_a: [customer_a, shared]}, day=today)
    _results(moment_shared, {associate_a: [customer_a], associate_b: [customer_b, shared]}, day=today)
    rollups.rollups_refresh()
    forecast.forecast_snapshot_create(campaign=campaign_a)
    forecast.forecast_snapshot_create(campaign=campaign_shared)
    ForecastJob.objects.create(campaign=campaign_a, state=ForecastJob.State.DONE)  # its recomputation, followed

    # --- operations ---------------------------------------------------------------------------------
    rules = PlatformRules.objects.order_by("effective_from").first() or PlatformRules.objects.create(
        effective_from=today - dt.timedelta(days=365)
    )
    sync_run = DirectorySyncRun.objects.create(status=DirectorySyncRun.Status.SUCCEEDED, counts={"associates": 2})
    callback_event = CallbackEvent.objects.create(
        key="perm-event-1", event="change_external_contact", change_type="add_external_contact", payload={"UserID": "x"}
    )
    integration = factories.user("perm-integration", staff=False)
    token = TokenProxy.objects.get(key=Token.objects.create(user=integration).key)
    crontab = CrontabSchedule.objects.create(minute="17", hour="3")
    beat = {
        "crontab": crontab,
        "interval": IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS),
        "solar": SolarSchedule.objects.create(event="sunrise", latitude=31.23, longitude=121.47),
        "clocked": ClockedSchedule.objects.create(clocked_time=timezone.now() + dt.timedelta(days=1)),
        "task": PeriodicTask.objects.create(
            name="perm-matrix-task", task="analytics.tasks.rollups_refresh_task", crontab=crontab
        ),
    }
    return World(
        hq=hq, region_a=region_a, store_a=store_a, region_b=region_b, store_b=store_b, associate_a=associate_a,
        associate_b=associate_b, customer_a=customer_a, customer_b=customer_b, customer_shared=shared,
        contact_a=contact_a, tag_group=tag.group, tag=tag, users=users, campaign_a=campaign_a,
        campaign_shared=campaign_shared, moment_a=moment_a, draft_a=draft_a, variant_a=variant_a,
        draft_variant_a=draft_variant_a, task_a=task_a, link_a=link_a, channel_code_a=channel_code_a,
        approval=approval, state_change=state_change, tone=tone, hashtag=hashtag, forbidden_word=forbidden_word,
        cta=cta, media=media, rules=rules, sync_run=sync_run, callback_event=callback_event, token=token, beat=beat,
    )  # fmt: skip
