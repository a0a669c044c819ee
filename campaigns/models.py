"""Campaigns and what they are made of (DESIGN.md §3): a Campaign is a series of
Moments over a date window; each Moment has one or more Variants — the content
for one audience (tone, copy, attachments, hashtags, call to action). Libraries
the variants draw from: tones, hashtags, media assets, calls to action, and the
forbidden words. Approvals and every state change are recorded.

States change only through ``campaigns.services`` (conditional updates).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from staff.models import Associate, CustomerTag, Department

COPY_MAX_CHARS = 2000  # wecom-api.md §1.2: text.content
LINK_TITLE_MAX_BYTES = 64  # wecom-api.md §1.2: link.title
MAX_IMAGES = 9  # wecom-api.md §1.2: up to 9 images, or 1 video, or 1 link — never mixed
MAX_HASHTAGS = 10  # a house rule: more reads as spam in a feed
WELCOME_TEXT_MAX_BYTES = 4000  # send_welcome_msg text.content (docs/wecom-contact-way.md)


class State(models.TextChoices):
    """A moment's life (DESIGN.md §5.3); this issue covers draft → scheduled."""

    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    APPROVED = "approved", _("Approved")
    SCHEDULED = "scheduled", _("Scheduled")
    DISPATCHING = "dispatching", _("Dispatching")
    LIVE = "live", _("Live")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


class Tone(models.Model):
    """The editable vocabulary of tones a variant's copy is written in."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    guidance = models.TextField(
        _("guidance"), blank=True, help_text=_("How copy in this tone reads; shown to writers.")
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("tone")
        verbose_name_plural = _("tones")
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return self.name


class Hashtag(models.Model):
    """A branded hashtag, stored without the leading ``#``."""

    class Kind(models.TextChoices):
        BRAND = "brand", _("Brand")
        COLLECTION = "collection", _("Collection")
        CAMPAIGN = "campaign", _("Campaign")

    text = models.CharField(_("text"), max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.CAMPAIGN)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("hashtag")
        verbose_name_plural = _("hashtags")
        ordering = ["kind", "text"]

    def __str__(self) -> str:
        return f"#{self.text}"


class ForbiddenWord(models.Model):
    """A word or phrase copy may not contain (compliance: e.g. 最, 第一, 国家级)."""

    word = models.CharField(_("word"), max_length=64, unique=True)
    note = models.CharField(_("why"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("forbidden word")
        verbose_name_plural = _("forbidden words")
        ordering = ["word"]

    def __str__(self) -> str:
        return self.word


def _asset_path(instance: MediaAsset, filename: str) -> str:
    return f"assets/{instance.public_id}.{filename.rsplit('.', 1)[-1]}"


def _thumbnail_path(instance: MediaAsset, filename: str) -> str:
    return f"assets/thumbs/{instance.public_id}.jpg"


class MediaAsset(models.Model):
    """A photo or video in the library. Photos are validated, re-encoded without
    metadata and resized to fit 1440×1080; videos are MP4s of ≤ 30 s (wecom-api.md
    §1.2). Each has a thumbnail. Reusable across moments."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        VIDEO = "video", _("Video")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    title = models.CharField(_("title"), max_length=128, blank=True)
    file = models.FileField(_("file"), upload_to=_asset_path)
    thumbnail = models.FileField(_("thumbnail"), upload_to=_thumbnail_path)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    size = models.PositiveIntegerField(_("bytes"))
    seconds = models.FloatField(_("seconds"), null=True, blank=True)  # videos only
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)  # the same picture twice is one asset
    original_name = models.CharField(_("original file name"), max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # WeCom's copy (media/upload_attachment): valid 3 days, re-uploaded after (wecom-api.md §1.6, 40007).
    wecom_media_id = models.CharField(_("WeCom media id"), max_length=128, blank=True)
    wecom_uploaded_at = models.DateTimeField(_("uploaded to WeCom at"), null=True, blank=True)
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("media asset")
        verbose_name_plural = _("media library")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title or self.original_name or str(self.public_id)


class CallToAction(models.Model):
    """What a customer can do after reading: reusable across variants."""

    class Kind(models.TextChoices):
        DISCOUNT = "discount", _("Limited-time discount")
        VOUCHER = "voucher", _("Voucher code")
        TIER_OFFER = "tier_offer", _("Tier-exclusive offer")
        GROUP_QR = "group_qr", _("Group QR code")
        LINK = "link", _("Tracked link")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    label = models.CharField(_("label"), max_length=64, help_text=_("The words the customer sees, e.g. 立即领取"))
    url = models.URLField(_("URL"), max_length=1024, blank=True)
    code = models.CharField(_("voucher code"), max_length=64, blank=True)
    tier = models.ForeignKey(
        CustomerTag, verbose_name=_("tier"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    group_name = models.CharField(_("group name"), max_length=64, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("call to action")
        verbose_name_plural = _("calls to action")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(kind="voucher") | ~Q(code=""), name="cta_voucher_has_code"),
            models.CheckConstraint(condition=~Q(kind__in=["link", "discount"]) | ~Q(url=""), name="cta_link_has_url"),
            models.CheckConstraint(condition=~Q(kind="tier_offer") | Q(tier__isnull=False), name="cta_offer_has_tier"),
            models.CheckConstraint(
                condition=~Q(kind="discount") | Q(expires_at__isnull=False), name="cta_discount_expires"
            ),  # fmt: skip
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"


def validate_welcome_text(value: str) -> None:
    size = len(value.encode())
    if size > WELCOME_TEXT_MAX_BYTES:
        raise ValidationError(
            _("The welcome message is %(size)s bytes; WeCom takes at most %(limit)s (about 1,333 Chinese characters)."),
            code="welcome_too_long",
            params={"size": size, "limit": WELCOME_TEXT_MAX_BYTES},
        )


class Campaign(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=128)
    goal = models.TextField(_("goal"), blank=True)
    starts_on = models.DateField(_("first day"))
    ends_on = models.DateField(_("last day"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="campaigns"
    )
    # The least advanced state among its moments (services keep it in step).
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    welcome_text = models.TextField(
        _("welcome message"), blank=True, validators=[validate_welcome_text],
        help_text=_("Sent to a customer who adds an associate through the campaign's QR code. "
                    "Empty: no welcome message."),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-starts_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")),
                name="campaign_window_ordered",
                violation_error_message=_("The last day cannot be before the first day."),
            ),  # fmt: skip
        ]
        indexes = [models.Index(fields=["state", "starts_on"], name="campaign_state_start")]

    def __str__(self) -> str:
        return self.name


class Moment(models.Model):
    """One post slot of a campaign, at a planned local time."""

    class Mode(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise task (WeCom pushes it to each associate)")
        ASSOCIATE = "associate", _("Associate-shared (published from the associate's page)")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="moments")
    title = models.CharField(_("title"), max_length=128, help_text=_("For the team; customers never see it."))
    publish_at = models.DateTimeField(_("publish at"))
    expires_at = models.DateTimeField(_("expires at"), help_text=_("Associates cannot publish after this."))
    mode = models.CharField(_("mode"), max_length=16, choices=Mode.choices, default=Mode.ASSOCIATE)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("last edited by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("moment")
        verbose_name_plural = _("moments")
        ordering = ["publish_at", "id"]
        permissions = [
            ("submit_moment", _("Can submit moments for review")),
            ("approve_moment", _("Can approve or reject moments")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("publish_at")),
                name="moment_expires_after",
                violation_error_message=_("The moment must expire after its publish time."),
            ),  # fmt: skip
        ]
        indexes = [
            # The calendar: moments in a date range, across campaigns.
            models.Index(fields=["publish_at"], name="moment_publish_at"),
            # The dispatcher (next issue): due moments in one state.
            models.Index(fields=["state", "publish_at"], name="moment_state_due"),
        ]

    def __str__(self) -> str:
        return self.title


class Variant(models.Model):
    """The content of a moment for one audience."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    moment = models.ForeignKey(Moment, verbose_name=_("moment"), on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(_("name"), max_length=64, help_text=_("e.g. 金卡会员, 其他客户"))
    audience_all = models.BooleanField(_("all contacts"), default=True)
    audience_tags = models.ManyToManyField(
        CustomerTag, verbose_name=_("customer tags"), blank=True, related_name="+",
        help_text=_("Customers with any of these tags (WeCom targets customers only by enterprise tags)."),
    )  # fmt: skip
    target_departments = models.ManyToManyField(
        Department, verbose_name=_("departments"), blank=True, related_name="+",
        help_text=_("Associates in these departments and their sub-departments."),
    )  # fmt: skip
    target_associates = models.ManyToManyField(Associate, verbose_name=_("associates"), blank=True, related_name="+")
    tone = models.ForeignKey(Tone, verbose_name=_("tone"), on_delete=models.PROTECT, related_name="+")
    copy = models.TextField(_("copy"), blank=True)

    class PersonalTouch(models.TextChoices):
        NONE = "none", _("None: publish the brand's copy as it is")
        LINE = "line", _("A personal line before the brand's copy")
        EDIT = "edit", _("Edit the copy")

    personal_touch = models.CharField(
        _("personal touch"), max_length=8, choices=PersonalTouch.choices, default=PersonalTouch.NONE,
        help_text=_("What associates may add or change; whatever they write passes the same content rules."),
    )  # fmt: skip
    personal_line_max = models.PositiveSmallIntegerField(
        _("personal line, at most (characters)"), default=140,
        validators=[MinValueValidator(1), MaxValueValidator(COPY_MAX_CHARS)],
    )  # fmt: skip
    hashtags = models.ManyToManyField(
        Hashtag, verbose_name=_("hashtags"), through="VariantHashtag", blank=True, related_name="+"
    )
    images = models.ManyToManyField(
        MediaAsset, verbose_name=_("photos"), through="VariantImage", blank=True, related_name="variants"
    )
    video = models.ForeignKey(
        MediaAsset, verbose_name=_("video"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        limit_choices_to={"kind": "video"},
    )  # fmt: skip
    link_url = models.URLField(_("link URL"), max_length=1024, blank=True)
    link_title = models.CharField(_("link title"), max_length=64, blank=True)
    link_cover = models.ForeignKey(
        MediaAsset, verbose_name=_("link cover"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cta = models.ForeignKey(
        CallToAction, verbose_name=_("call to action"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="variants",
    )  # fmt: skip
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    # The version an approver approved last (campaigns.versions): dispatch and the associate's page use only it.
    approved_version = models.ForeignKey(
        "VariantVersion", verbose_name=_("approved version"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", editable=False,
    )  # fmt: skip

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class VariantHashtag(models.Model):
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE)
    hashtag = models.ForeignKey(Hashtag, on_delete=models.PROTECT)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["variant", "hashtag"], name="variant_hashtag_unique")]

    def __str__(self) -> str:
        return f"{self.variant_id} #{self.hashtag_id}"


class VariantImage(models.Model):
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE)
    asset = models.ForeignKey(MediaAsset, on_delete=models.PROTECT)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["variant", "asset"], name="variant_image_unique")]

    def __str__(self) -> str:
        return f"{self.variant_id} ← {self.asset_id}"


class VariantVersion(models.Model):
    """One immutable version of a variant's content as it will be posted (DESIGN.md §5.2): the copy,
    hashtags and call to action as values, the attachments, the audience, the senders and the
    personal-touch policy (``content``, built by campaigns.versions.variant_freeze). Made when a moment is
    submitted; approving the moment approves its versions; dispatch posts nothing else."""

    variant = models.ForeignKey(Variant, verbose_name=_("variant"), on_delete=models.CASCADE, related_name="versions")
    moment = models.ForeignKey(Moment, verbose_name=_("moment"), on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField(_("version"))
    content = models.JSONField(_("content"))
    digest = models.CharField(_("digest"), max_length=64)  # SHA-256 of the canonical JSON of ``content``
    text = models.TextField(_("text as posted"))  # rendered with a sample short URL, for people to read
    # Everyone who wrote or changed any part of it (the moment's contributors when it was made): none approves it.
    authors = models.JSONField(_("authors"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("made by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("made at"), auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    # The media it posts, protected from deletion while a version needs them.
    assets = models.ManyToManyField(MediaAsset, through="VersionAsset", related_name="+", blank=True)

    class Meta:
        verbose_name = _("variant version")
        verbose_name_plural = _("variant versions")
        ordering = ["variant", "-number"]
        constraints = [models.UniqueConstraint(fields=["variant", "number"], name="variant_version_once")]

    def __str__(self) -> str:
        return f"{self.variant_id} v{self.number}"


class VersionAsset(models.Model):
    version = models.ForeignKey(VariantVersion, on_delete=models.CASCADE)
    asset = models.ForeignKey(MediaAsset, on_delete=models.PROTECT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "asset"], name="version_asset_once")]

    def __str__(self) -> str:
        return f"{self.version_id} ← {self.asset_id}"


class MomentContributor(models.Model):
    """Someone who wrote or changed a moment, one of its variants, or a library object it uses
    (four eyes: none of them approves it)."""

    moment = models.ForeignKey(Moment, on_delete=models.CASCADE, related_name="contributors")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    first_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["moment", "user"], name="moment_contributor_once")]

    def __str__(self) -> str:
        return f"{self.moment_id} ✎ {self.user_id}"


class Approval(models.Model):
    """A decision on one moment, or on the whole campaign plan (``moment`` empty)."""

    class Decision(models.TextChoices):
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="approvals"
    )
    moment = models.ForeignKey(
        Moment, verbose_name=_("moment"), null=True, blank=True, on_delete=models.CASCADE, related_name="approvals"
    )
    decision = models.CharField(_("decision"), max_length=16, choices=Decision.choices)
    note = models.TextField(_("note"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), auto_now_add=True)
    versions = models.ManyToManyField(VariantVersion, verbose_name=_("versions"), blank=True, related_name="approvals")

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} · {self.moment or self.campaign}"


class StateChange(models.Model):
    """The audit trail: every transition of a moment, by whom, when, why."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="state_changes")
    moment = models.ForeignKey(Moment, null=True, blank=True, on_delete=models.CASCADE, related_name="state_changes")
    from_state = models.CharField(_("from"), max_length=16, choices=State.choices)
    to_state = models.CharField(_("to"), max_length=16, choices=State.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("state change")
        verbose_name_plural = _("state changes")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["campaign", "at"], name="state_change_campaign")]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"


class PublishTask(models.Model):
    """One associate's to-do for one variant (DESIGN.md §5.3): notified once, opened
    through a signed link, published when WeCom confirms it."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        NOTIFYING = "notifying", _("Notifying")
        NOTIFIED = "notified", _("Notified")
        OPENED = "opened", _("Opened")
        PUBLISH_REQUESTED = "publish_requested", _("Publish requested")
        PUBLISHED = "published", _("Published")
        EXPIRED = "expired", _("Expired")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    moment = models.ForeignKey(Moment, verbose_name=_("moment"), on_delete=models.CASCADE, related_name="tasks")
    variant = models.ForeignKey(Variant, verbose_name=_("variant"), on_delete=models.CASCADE, related_name="tasks")
    associate = models.ForeignKey(
        Associate, verbose_name=_("associate"), on_delete=models.PROTECT, related_name="publish_tasks"
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)  # a notify in flight since
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    msgid = models.CharField(_("WeCom msgid"), max_length=64, blank=True)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    publish_requested_at = models.DateTimeField(_("publish requested at"), null=True, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    edited_copy = models.TextField(_("what the associate wrote"), blank=True)  # their line, or their edited copy
    # The approved version this task posts (campaigns.versions), and the text it posted, as WeCom received it.
    version = models.ForeignKey(
        VariantVersion, verbose_name=_("version"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    posted_text = models.TextField(_("text as posted"), blank=True)

    class Via(models.TextChoices):
        SERVER = "server", _("WeCom task created by the server")
        JSSDK = "jssdk", _("Shared from the WeCom client (JS-SDK)")

    via = models.CharField(_("published via"), max_length=8, choices=Via.choices, blank=True)
    wecom_jobid = models.CharField(_("WeCom job id"), max_length=64, blank=True)
    wecom_moment_id = models.CharField(_("WeCom moment id"), max_length=64, blank=True)
    errcode = models.IntegerField(_("errcode"), null=True, blank=True)
    error = models.CharField(_("reason"), max_length=255, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(_("reminders sent"), default=0)
    reminded_at = models.DateTimeField(_("last reminded at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("publish task")
        verbose_name_plural = _("publish tasks")
        ordering = ["moment", "associate", "id"]
        constraints = [
            # Dispatch may run twice: the second run inserts nothing.
            models.UniqueConstraint(fields=["variant", "associate"], name="publish_task_once"),
        ]
        indexes = [
            # The notifier's and reconciler's work lists: tasks of a state, oldest claim first.
            models.Index(fields=["state", "claimed_at"], name="publish_task_state_claim"),
            # Funnel counts per moment.
            models.Index(fields=["moment", "state"], name="publish_task_moment_state"),
            # An associate's tasks today ("my tasks", remaining feed slots).
            models.Index(fields=["associate", "state"], name="publish_task_associate"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} → {self.associate_id}"


class EnterpriseTask(models.Model):
    """In enterprise mode, the WeCom moment task of one variant (DESIGN.md §5.3): created
    by ``add_moment_task`` at dispatch for all its associates at once (at most
    ``SENDERS_MAX`` a task; more go in further chunks), then polled for its moment_id."""

    SENDERS_MAX = 100_000  # executors per add_moment_task (wecom-api.md §1.2)

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        CREATING = "creating", _("Creating")  # add_moment_task in flight since claimed_at
        CREATED = "created", _("Created")  # WeCom has the job; its moment_id is not known yet
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    variant = models.ForeignKey(
        Variant, verbose_name=_("variant"), on_delete=models.CASCADE, related_name="enterprise_tasks"
    )
    chunk = models.PositiveIntegerField(_("chunk"), default=0)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    text = models.TextField(_("text as posted"), blank=True)
    wecom_jobid = models.CharField(_("WeCom job id"), max_length=64, blank=True)
    wecom_moment_id = models.CharField(_("WeCom moment id"), max_length=64, blank=True)
    errcode = models.IntegerField(_("errcode"), null=True, blank=True)
    error = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("enterprise task")
        verbose_name_plural = _("enterprise tasks")
        ordering = ["variant", "chunk"]
        constraints = [models.UniqueConstraint(fields=["variant", "chunk"], name="enterprise_task_once")]

    def __str__(self) -> str:
        return f"{self.variant_id}/{self.chunk} ({self.state})"


class TrackedLink(models.Model):
    """A short link ``/go/<code>`` standing for one URL a moment posts (its link attachment, its call to
    action, or the call to action's group QR code), per (moment, associate): each associate posts their own
    code, so a click says whose post it came from (DESIGN.md §5.5).

    In an enterprise moment WeCom posts one content for all its senders (``add_moment_task``), so there is
    one link per moment with no associate: its clicks are attributed to the moment only."""

    class Purpose(models.TextChoices):
        ATTACHMENT = "attachment", _("Link attachment")
        CTA = "cta", _("Call to action")
        GROUP_QR = "group_qr", _("Group QR code")

    # Random (campaigns.links.code_new), never sequential: a code cannot be guessed from another.
    code = models.CharField(_("code"), max_length=16, unique=True, editable=False)
    moment = models.ForeignKey(Moment, verbose_name=_("moment"), on_delete=models.CASCADE,
                               related_name="tracked_links")  # fmt: skip
    associate = models.ForeignKey(
        Associate, verbose_name=_("associate"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target_url = models.URLField(_("target URL"), max_length=1024)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tracked link")
        verbose_name_plural = _("tracked links")
        ordering = ["moment", "associate", "id"]
        constraints = [
            # One code per (moment, associate, URL). NULLs are distinct in a unique index, so the
            # enterprise case (no associate) needs its own partial constraint.
            models.UniqueConstraint(
                fields=["moment", "associate", "target_url"],
                name="tracked_link_once",
                condition=Q(associate__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["moment", "target_url"],
                name="tracked_link_once_enterprise",
                condition=Q(associate__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"/go/{self.code} → {self.target_url}"


class LinkClick(models.Model):
    """One counted click on a tracked link (link previewers and HEAD requests are not clicks). No IP
    address and no user agent are kept: only the coarse device class derived from it."""

    class Device(models.TextChoices):
        WECOM = "wecom", _("WeCom")
        WECHAT = "wechat", _("WeChat")
        PHONE = "phone", _("Phone browser")
        TABLET = "tablet", _("Tablet")
        DESKTOP = "desktop", _("Desktop")
        OTHER = "other", _("Other")

    link = models.ForeignKey(TrackedLink, verbose_name=_("link"), on_delete=models.CASCADE, related_name="clicks")
    # Denormalised from the link, so the roll-ups count clicks without joining it.
    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="+")
    # No index of its own: link_click_moment_day (moment first) serves lookups by moment.
    moment = models.ForeignKey(Moment, verbose_name=_("moment"), on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # fmt: skip
    associate = models.ForeignKey(
        Associate, verbose_name=_("associate"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )  # empty for an enterprise moment's link
    clicked_at = models.DateTimeField(_("clicked at"))
    day = models.DateField(_("day"))  # the local date of clicked_at (settings.TIME_ZONE), the roll-ups' bucket
    device = models.CharField(_("device"), max_length=8, choices=Device.choices)

    class Meta:
        verbose_name = _("link click")
        verbose_name_plural = _("link clicks")
        ordering = ["-clicked_at", "-id"]
        indexes = [
            # The roll-ups and dashboards: a moment's clicks by day (and by associate within it).
            models.Index(fields=["moment", "day"], name="link_click_moment_day"),
        ]

    def __str__(self) -> str:
        return f"{self.link_id} @ {self.clicked_at:%Y-%m-%d %H:%M}"


class ChannelCode(models.Model):
    """An associate's "contact me" QR code for a campaign (``add_contact_way``, docs/wecom-contact-way.md).
    A customer who adds the associate through it carries its ``state`` (Contact.state), so counts as
    the campaign's new contact on that channel, and gets the campaign's welcome message."""

    STATE_MAX_CHARS = 30  # add_contact_way.state

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="channel_codes"
    )
    associate = models.ForeignKey(Associate, verbose_name=_("associate"), on_delete=models.PROTECT, related_name="+")
    # Random (campaigns.channels.state_new), reserved before WeCom is called: a run that fails half-way
    # leaves rows without a config_id, which the next run completes with the same state.
    state = models.CharField(_("channel"), max_length=STATE_MAX_CHARS, unique=True, editable=False)
    config_id = models.CharField(_("WeCom config id"), max_length=64, blank=True)
    qr_code = models.URLField(_("QR code"), max_length=1024, blank=True)
    errcode = models.IntegerField(_("errcode"), null=True, blank=True)
    error = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("channel QR code")
        verbose_name_plural = _("channel QR codes")
        ordering = ["campaign", "associate"]
        constraints = [
            # One code per associate and campaign: creating the codes again skips existing ones.
            models.UniqueConstraint(fields=["campaign", "associate"], name="channel_code_once"),
        ]

    def __str__(self) -> str:
        return f"{self.state} ({self.campaign_id}/{self.associate_id})"


class WelcomeSent(models.Model):
    """The welcome message for one new customer, keyed by the event's ``WelcomeCode``: the row is
    claimed before ``send_welcome_msg`` is called, so a replayed or retried event never sends twice,
    and WeCom's answer is kept (a refusal is never retried: the code is good once, for 20 s)."""

    class State(models.TextChoices):
        SENDING = "sending", _("Sending")  # claimed; a crash here leaves it so (at most once)
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    welcome_code = models.CharField(_("welcome code"), max_length=128, unique=True)
    channel_code = models.ForeignKey(
        ChannelCode, verbose_name=_("channel QR code"), on_delete=models.CASCADE, related_name="welcomes"
    )
    external_userid = models.CharField(_("customer"), max_length=64)
    event = models.ForeignKey(
        "staff.CallbackEvent", verbose_name=_("WeCom callback"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.SENDING)
    errcode = models.IntegerField(_("errcode"), null=True, blank=True)
    error = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("welcome message sent")
        verbose_name_plural = _("welcome messages sent")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.channel_code_id} → {self.external_userid} ({self.state})"
