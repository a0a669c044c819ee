"""Analytics facts (DESIGN.md §3–4, §5.5): the platform's rules as data, WeCom's moments
as seen by results sync, and who had which moment in their feed on which local day."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
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
