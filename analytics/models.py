"""Analytics facts (DESIGN.md §3–4, §5.5): the platform's rules as data, WeCom's moments
as seen by results sync, and who had which moment in their feed on which local day."""

from __future__ import annotations

import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.models import Moment
from staff.models import Associate, Customer


def _time_zone_valid(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            _("“%(value)s” is not a time zone name such as Asia/Shanghai."), params={"value": value}
        ) from None


class PlatformRules(models.Model):
    """WeCom's limits as we know them, in force from a date until the next version."""

    effective_from = models.DateField(_("in force from"), unique=True)
    feed_cap = models.PositiveSmallIntegerField(
        _("feed cap"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Moments a customer sees from one associate per local day; the first published win."),
    )
    unverified_reach_limit = models.PositiveIntegerField(
        _("unverified reach limit"),
        default=200,
        validators=[MinValueValidator(1)],
        help_text=_("An unverified account reaches only its earliest-added contacts, this many."),
    )
    enterprise_monthly_cap = models.PositiveSmallIntegerField(
        _("enterprise monthly cap"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_(
            "Enterprise-published moments a customer sees per calendar month. Empty: no such cap (reported "
            "by some sources as 4)."
        ),
    )
    time_zone = models.CharField(
        _("time zone of the day"),
        max_length=64,
        default=settings.TIME_ZONE,
        validators=[_time_zone_valid],
        help_text=_("Where a “day” of the feed cap begins and ends."),
    )
    note = models.CharField(_("note"), max_length=255, blank=True, help_text=_("Why this version, and its source."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("platform rules")
        verbose_name_plural = _("platform rules")
        ordering = ["-effective_from"]
        constraints = [
            models.CheckConstraint(condition=Q(feed_cap__gte=1), name="rules_feed_cap_positive"),
            models.CheckConstraint(condition=Q(unverified_reach_limit__gte=1), name="rules_reach_limit_positive"),
            models.CheckConstraint(
                condition=Q(enterprise_monthly_cap__isnull=True) | Q(enterprise_monthly_cap__gte=1),
                name="rules_monthly_cap_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.effective_from}: {self.feed_cap}/day, {self.unverified_reach_limit} unverified"


class Post(models.Model):
    """A moment in WeCom, as results sync found it: an enterprise moment (ours, from a
    WeCom task) or an associate's personal post (one of ours shared through the JS-SDK,
    or their own, which counts toward the same feed cap)."""

    class Kind(models.IntegerChoices):  # WeCom's create_type
        ENTERPRISE = 0, _("enterprise")
        PERSONAL = 1, _("personal")

    wecom_moment_id = models.CharField(_("WeCom moment id"), max_length=128, unique=True)
    kind = models.PositiveSmallIntegerField(_("kind"), choices=Kind.choices)
    creator = models.ForeignKey(
        Associate, verbose_name=_("posted by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moment = models.ForeignKey(
        Moment, verbose_name=_("our moment"), null=True, blank=True, on_delete=models.SET_NULL, related_name="posts"
    )
    created_at = models.DateTimeField(_("created in WeCom at"))
    text = models.TextField(_("text"), blank=True)
    synced_at = models.DateTimeField(_("deliveries synced at"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeCom moment")
        verbose_name_plural = _("WeCom moments")
        indexes = [models.Index(fields=["created_at"], name="post_created_at")]

    def __str__(self) -> str:
        return self.wecom_moment_id


class Delivery(models.Model):
    """Customer C had post P from associate A in their feed on local day D (from WeCom's
    send result): the base of reach. 10M+ rows; written in bulk, never one by one."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    moment = models.ForeignKey(Moment, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    associate = models.ForeignKey(Associate, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["post", "associate", "customer"], name="delivery_unique"),
        ]
        indexes = [
            # The feed cap's counter: slots used per (associate, customer, day).
            models.Index(fields=["associate", "customer", "day"], name="delivery_feed"),
            # A customer's timeline.
            models.Index(fields=["customer", "day"], name="delivery_customer_day"),
            # Reach of a moment / campaign.
            models.Index(fields=["moment", "customer"], name="delivery_moment_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.post_id}: {self.associate_id} → {self.customer_id} on {self.day}"


class Engagement(models.Model):
    """A like or a comment on a post (``get_moment_comments``), by a customer or by a
    colleague. WeCom gives no comment id: the actor and the second identify one."""

    class Kind(models.IntegerChoices):
        LIKE = 0, _("like")
        COMMENT = 1, _("comment")

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="engagements", db_index=False)
    moment = models.ForeignKey(Moment, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    associate = models.ForeignKey(Associate, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.PositiveSmallIntegerField(_("kind"), choices=Kind.choices)
    customer = models.ForeignKey(Customer, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    actor = models.CharField(_("by (WeCom id)"), max_length=128)  # external_userid or a colleague's userid
    created_at = models.DateTimeField(_("at"))
    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("like or comment")
        verbose_name_plural = _("likes and comments")
        constraints = [
            models.UniqueConstraint(fields=["post", "associate", "kind", "actor", "created_at"], name="engagement_once")
        ]
        indexes = [models.Index(fields=["moment", "day"], name="engagement_moment_day")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.actor} on {self.post_id}"


class RollupMark(models.Model):
    """A roll-up bucket whose facts changed since it was last computed: the checkpoint of
    one stat. Ingest bumps ``generation`` in the same transaction as the facts; the roll-up
    recomputes the bucket whole and removes the mark only if the generation it read is still
    the current one, so an interrupted run leaves the mark and the bucket is redone."""

    stat = models.CharField(_("stat"), max_length=32)
    bucket = models.CharField(_("bucket"), max_length=32)  # a day (ISO) or a campaign id
    generation = models.PositiveIntegerField(default=1)
    # Facts of the bucket changed in place (a late post's moment, a full rebuild asked for): recompute it whole.
    # Otherwise the run adds the bucket's new facts (by id, see RollupBucket) to what it holds.
    rebuild = models.BooleanField(_("rebuild"), default=False)

    class Meta:
        verbose_name = _("roll-up to redo")
        verbose_name_plural = _("roll-ups to redo")
        constraints = [models.UniqueConstraint(fields=["stat", "bucket"], name="rollup_mark_once")]

    def __str__(self) -> str:
        return f"{self.stat} {self.bucket}"


class RollupCursor(models.Model):
    """How far a stream of facts recorded elsewhere (CTA clicks) has been marked for the
    roll-ups: the last id seen."""

    name = models.CharField(_("name"), max_length=32, unique=True)
    position = models.BigIntegerField(_("last id seen"), default=0)

    class Meta:
        verbose_name = _("roll-up cursor")
        verbose_name_plural = _("roll-up cursors")

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class RollupBucket(models.Model):
    """How far each roll-up bucket has counted the facts: the last Delivery, Engagement and
    LinkClick id it holds (the facts of a bucket above these are what the next run adds)."""

    stat = models.CharField(_("stat"), max_length=32)
    bucket = models.CharField(_("bucket"), max_length=32)
    deliveries = models.BigIntegerField(_("last delivery counted"), default=0)
    engagements = models.BigIntegerField(_("last like or comment counted"), default=0)
    clicks = models.BigIntegerField(_("last click counted"), default=0)

    class Meta:
        verbose_name = _("roll-up bucket")
        verbose_name_plural = _("roll-up buckets")
        constraints = [models.UniqueConstraint(fields=["stat", "bucket"], name="rollup_bucket_once")]

    def __str__(self) -> str:
        return f"{self.stat} {self.bucket} @ {self.deliveries}"


class RollupPublication(models.Model):
    """The published tasks whose losses an associate day holds (a day's tasks ``published``
    then): the next run recomputes the losses of the associates whose set changed (or who got
    new deliveries), not the whole day. Plain ids, no foreign keys: a task gone is a change."""

    day = models.DateField(_("day"))
    task_id = models.BigIntegerField(_("task"))
    associate_id = models.BigIntegerField(_("associate"))

    class Meta:
        verbose_name = _("roll-up publication")
        verbose_name_plural = _("roll-up publications")
        constraints = [models.UniqueConstraint(fields=["day", "task_id"], name="rollup_publication_once")]

    def __str__(self) -> str:
        return f"{self.day} task {self.task_id}"


class _Counts(models.Model):
    deliveries = models.PositiveIntegerField(_("deliveries"), default=0)
    customers = models.PositiveIntegerField(_("customers reached"), default=0)  # distinct within the bucket
    cap_loss = models.PositiveIntegerField(_("cap loss"), default=0)
    verification_loss = models.PositiveIntegerField(_("verification loss"), default=0)
    likes = models.PositiveIntegerField(_("likes"), default=0)
    comments = models.PositiveIntegerField(_("comments"), default=0)
    clicks = models.PositiveIntegerField(_("CTA clicks"), default=0)

    class Meta:
        abstract = True


class AssociateDay(_Counts):
    """One associate's results for one campaign on one local day."""

    day = models.DateField(_("day"))
    associate = models.ForeignKey(Associate, on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("associate day")
        verbose_name_plural = _("associate days")
        constraints = [models.UniqueConstraint(fields=["associate", "day", "campaign"], name="associate_day_once")]
        indexes = [models.Index(fields=["campaign", "day"], name="associate_day_campaign")]

    def __str__(self) -> str:
        return f"{self.associate_id} {self.day}"


class DepartmentDay(_Counts):
    """A department's subtree's results for one campaign on one local day: ``customers``
    counts each customer once however many of the subtree's associates reached them."""

    day = models.DateField(_("day"))
    department = models.ForeignKey("staff.Department", on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("department day")
        verbose_name_plural = _("department days")
        constraints = [models.UniqueConstraint(fields=["department", "day", "campaign"], name="department_day_once")]
        indexes = [models.Index(fields=["campaign", "day"], name="department_day_campaign")]

    def __str__(self) -> str:
        return f"{self.department_id} {self.day}"


class CampaignReach(_Counts):
    """A campaign's totals; ``customers`` is the campaign's reach (distinct over all days)."""

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    # The reach rate's base: distinct customers among the active contacts of the associates given a task.
    contacts = models.PositiveIntegerField(_("customers among the associates' contacts"), default=0)
    computed_at = models.DateTimeField(_("computed at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign reach")
        verbose_name_plural = _("campaign reach")

    def __str__(self) -> str:
        return str(self.campaign_id)


class CampaignAssociate(_Counts):
    """One associate's part in a campaign, for the leaderboards and the funnel of the whole
    campaign: the funnel of their publish tasks (``analytics.selectors.funnel_counts``;
    ``assigned`` counts every task, cancelled ones too) and their results summed over the
    days (``customers`` unused: distinct reach is never a sum). Kept by the ``campaign`` stat,
    which the publish flow marks."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+", db_index=False)
    associate = models.ForeignKey(Associate, on_delete=models.CASCADE, related_name="+", db_index=False)
    assigned = models.PositiveIntegerField(_("tasks assigned"), default=0)
    tasks = models.PositiveIntegerField(_("tasks"), default=0)
    notified = models.PositiveIntegerField(_("notified"), default=0)
    opened = models.PositiveIntegerField(_("opened"), default=0)
    requested = models.PositiveIntegerField(_("publish requested"), default=0)
    published = models.PositiveIntegerField(_("published"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)

    class Meta:
        verbose_name = _("campaign associate")
        verbose_name_plural = _("campaign associates")
        constraints = [models.UniqueConstraint(fields=["campaign", "associate"], name="campaign_associate_once")]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.associate_id}"


class CampaignCustomer(models.Model):
    """Each customer a campaign reached, and on which day first: what distinct reach over
    any span of days is counted from (never a sum of daily distinct counts)."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    first_day = models.DateField(_("first reached on"))
    deliveries = models.PositiveIntegerField(_("deliveries"), default=0)

    class Meta:
        verbose_name = _("customer reached")
        verbose_name_plural = _("customers reached")
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="campaign_customer_once")]
        indexes = [models.Index(fields=["campaign", "first_day"], name="campaign_customer_first_day")]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.customer_id}"


class DepartmentReach(models.Model):
    """A department's subtree's distinct reach in a campaign, by the day each customer was
    first reached through one of its associates: the subtree's reach up to any day is the
    sum of ``customers`` up to it, exactly (a customer counts on one day only). The row with
    ``day`` NULL carries the subtree's base: distinct customers among the active contacts of
    its associates given a task in the campaign. Kept by the ``campaign`` stat."""

    department = models.ForeignKey("staff.Department", on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("first reached on"), null=True)
    customers = models.PositiveIntegerField(_("customers"), default=0)

    class Meta:
        verbose_name = _("department reach")
        verbose_name_plural = _("department reach")
        constraints = [
            models.UniqueConstraint(fields=["department", "campaign", "day"], name="department_reach_once"),
            models.UniqueConstraint(
                fields=["department", "campaign"], condition=Q(day__isnull=True), name="department_reach_base_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.campaign_id} {self.day}"


class ForecastSnapshot(models.Model):
    """The reach forecast of a campaign as computed at ``computed_at`` (the forecast of a
    large brand takes minutes, so the dashboards and the admin's campaign page show the last
    snapshot rather than forecasting on each page view; ``analytics.snapshots``)."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    computed_at = models.DateTimeField(_("computed at"))  # when the plan was read
    # The whole forecast (``analytics.forecast.Forecast`` as plain data: per variant × day, collisions, the
    # accounts to verify), what the panel and the API show; and the plan it forecast, to tell what changed since.
    forecast = models.JSONField(_("forecast"), null=True, blank=True, encoder=DjangoJSONEncoder)
    plan = models.JSONField(_("plan as read"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    plan_digest = models.CharField(_("plan digest"), max_length=64, blank=True)
    reach = models.PositiveIntegerField(_("customers reached"), default=0)
    contacts = models.PositiveIntegerField(_("customers among the associates' contacts"), default=0)
    deliveries = models.PositiveIntegerField(_("deliveries"), default=0)
    cap_loss = models.PositiveIntegerField(_("cap loss"), default=0)
    verification_loss = models.PositiveIntegerField(_("verification loss"), default=0)
    monthly_cap_loss = models.PositiveIntegerField(_("monthly cap loss"), default=0)

    class Meta:
        verbose_name = _("forecast snapshot")
        verbose_name_plural = _("forecast snapshots")
        # the dashboards read the newest snapshot of a campaign
        indexes = [models.Index(fields=["campaign", "-computed_at"], name="forecast_snapshot_newest")]

    def __str__(self) -> str:
        return f"{self.campaign_id} @ {self.computed_at:%Y-%m-%d %H:%M}"


class ForecastAssociateDay(models.Model):
    """One associate's forecast for one day of a snapshot (pairs), so that a manager's
    forecast is the sum over the associates of their subtree."""

    snapshot = models.ForeignKey(ForecastSnapshot, on_delete=models.CASCADE, related_name="+")
    associate = models.ForeignKey(Associate, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField(_("day"))
    deliveries = models.PositiveIntegerField(_("deliveries"), default=0)
    cap_loss = models.PositiveIntegerField(_("cap loss"), default=0)
    verification_loss = models.PositiveIntegerField(_("verification loss"), default=0)

    class Meta:
        verbose_name = _("forecast of an associate day")
        verbose_name_plural = _("forecasts of associate days")
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "associate", "day"], name="forecast_associate_day_once")
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}: {self.associate_id} {self.day}"


class MomentForecast(models.Model):
    """The reach forecast of one moment alone, next to the other approved and scheduled moments
    (the moment's admin page), computed with its campaign's snapshot from the same plan."""

    moment = models.OneToOneField(Moment, on_delete=models.CASCADE, related_name="+")
    computed_at = models.DateTimeField(_("computed at"))
    forecast = models.JSONField(_("forecast"), encoder=DjangoJSONEncoder)
    plan_digest = models.CharField(_("plan digest"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("moment forecast")
        verbose_name_plural = _("moment forecasts")

    def __str__(self) -> str:
        return f"{self.moment_id} @ {self.computed_at:%Y-%m-%d %H:%M}"


class ForecastJob(models.Model):
    """A forecast asked for and followed (``analytics.snapshots``): a campaign's recomputation
    (one row per campaign, reused: one run at a time), or the forecast of a chosen set of
    moments (``moments``, its answer in ``result``)."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.OneToOneField(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    moments = models.JSONField(_("moments"), default=list, blank=True)  # ids, for a forecast of chosen moments
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.QUEUED)
    forced = models.BooleanField(_("asked for"), default=False)  # else only if the plan changed
    queued_at = models.DateTimeField(_("first asked at"), null=True, blank=True)  # since the last run
    requested_at = models.DateTimeField(_("last asked at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)  # debounced
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    stage = models.CharField(_("stage"), max_length=16, blank=True)
    steps_done = models.PositiveIntegerField(_("steps done"), default=0)
    steps_total = models.PositiveIntegerField(_("steps"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)
    result = models.JSONField(_("result"), null=True, blank=True, encoder=DjangoJSONEncoder)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("forecast job")
        verbose_name_plural = _("forecast jobs")
        indexes = [models.Index(fields=["state", "due_at"], name="forecast_job_due")]

    def __str__(self) -> str:
        return f"{self.campaign_id or 'moments'} {self.state}"
