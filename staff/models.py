"""The WeCom directory: who works where, and which customers each associate has.

Sizes to design for (DESIGN.md §3): 10k+ associates, 10M+ contacts. Every index
below names the query it serves.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person who logs in: marketing admin, approver, manager or operator.

    Roles are the groups created by migration ``staff.0002_roles``; a manager's
    scope is the set of departments in ``ManagerAssignment``.
    """

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("user")
        verbose_name_plural = _("users")


class Department(models.Model):
    """A WeCom department (HQ, region, store …). ``path`` is the materialised
    path of primary keys from the root, e.g. ``/1/4/17/``, so a subtree is one
    ``path LIKE '/1/4/%'`` query; services keep it in step with ``parent``."""

    class Kind(models.TextChoices):
        HEADQUARTERS = "hq", _("Headquarters")
        REGION = "region", _("Region")
        STORE = "store", _("Store")
        OTHER = "other", _("Other")

    wecom_id = models.PositiveIntegerField(_("WeCom department id"), unique=True)
    name = models.CharField(_("name"), max_length=64)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.OTHER)
    order = models.PositiveIntegerField(_("order"), default=0, help_text=_("Sort order within the parent, from WeCom."))
    path = models.CharField(_("path"), max_length=255, editable=False, default="", db_index=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name


class Associate(models.Model):
    """A sales associate: a WeCom member (``userid``).

    WeCom user ids are case-insensitive and come back lower-cased from some
    endpoints (wecom-api.md §3.2), so they are stored lower-cased: one spelling,
    one unique index, exact lookups.
    """

    userid = models.CharField(_("WeCom userid"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=64)
    avatar = models.URLField(_("profile photo"), max_length=512, blank=True)
    position = models.CharField(_("position"), max_length=128, blank=True)
    departments = models.ManyToManyField(
        Department, verbose_name=_("departments"), through="AssociateDepartment", related_name="associates"
    )
    main_department = models.ForeignKey(
        Department,
        verbose_name=_("main department"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    is_verified = models.BooleanField(
        _("verified"),
        default=False,
        help_text=_("Unverified accounts reach at most 200 customers (their earliest-added contacts)."),
    )
    is_active = models.BooleanField(_("active"), default=True, help_text=_("False once the member left the company."))
    deactivated_at = models.DateTimeField(_("left at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("associate")
        verbose_name_plural = _("associates")
        ordering = ["userid"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(userid=Lower("userid")),
                name="associate_userid_lower_case",
                violation_error_message=_("WeCom user ids are stored lower-cased."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.userid})"

    @property
    def has_profile_photo(self) -> bool:
        return bool(self.avatar)


class AssociateDepartment(models.Model):
    """Membership of an associate in a department (WeCom members may be in several)."""

    associate = models.ForeignKey(Associate, on_delete=models.CASCADE, db_index=False)
    department = models.ForeignKey(Department, on_delete=models.CASCADE)

    class Meta:
        verbose_name = _("department membership")
        verbose_name_plural = _("department memberships")
        constraints = [
            # Also serves "departments of an associate" (leading column).
            models.UniqueConstraint(fields=["associate", "department"], name="associate_department_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.associate_id} @ {self.department_id}"


class Customer(models.Model):
    """A WeCom external contact (``external_userid``)."""

    class Type(models.IntegerChoices):
        WECHAT = 1, _("WeChat user")
        WECOM = 2, _("WeCom user")

    class Gender(models.IntegerChoices):
        UNKNOWN = 0, _("unknown")
        MALE = 1, _("male")
        FEMALE = 2, _("female")

    external_userid = models.CharField(_("WeCom external userid"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255)
    type = models.PositiveSmallIntegerField(_("type"), choices=Type.choices, default=Type.WECHAT)
    gender = models.PositiveSmallIntegerField(_("gender"), choices=Gender.choices, default=Gender.UNKNOWN)
    avatar = models.URLField(_("avatar"), max_length=512, blank=True)
    corp_name = models.CharField(_("company"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["external_userid"]

    def __str__(self) -> str:
        return self.name or self.external_userid


class CustomerTagGroup(models.Model):
    """A group of enterprise customer tags (WeCom ``tag_group``)."""

    group_id = models.CharField(_("WeCom group id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=64)
    order = models.PositiveIntegerField(_("order"), default=0)
    is_tier = models.BooleanField(
        _("membership tiers"),
        default=False,
        help_text=_("The tags of this group are the brand's membership tiers (one per customer)."),
    )
    is_deleted = models.BooleanField(_("deleted in WeCom"), default=False)

    class Meta:
        verbose_name = _("customer tag group")
        verbose_name_plural = _("customer tag groups")
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class CustomerTag(models.Model):
    """An enterprise customer tag (WeCom ``tag``, id ``et…``): the only way WeCom
    lets a moment target customers (wecom-api.md §1.2)."""

    tag_id = models.CharField(_("WeCom tag id"), max_length=64, unique=True)
    group = models.ForeignKey(CustomerTagGroup, verbose_name=_("group"), on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("name"), max_length=64)
    order = models.PositiveIntegerField(_("order"), default=0)
    is_deleted = models.BooleanField(_("deleted in WeCom"), default=False)

    class Meta:
        verbose_name = _("customer tag")
        verbose_name_plural = _("customer tags")
        ordering = ["group__order", "order", "name"]

    def __str__(self) -> str:
        return f"{self.group.name} / {self.name}"


class Contact(models.Model):
    """The link associate ↔ customer: the audience graph (10M+ rows in a large brand)."""

    class AddWay(models.IntegerChoices):
        UNKNOWN = 0, _("unknown")
        QR_CODE = 1, _("QR code")
        PHONE_SEARCH = 2, _("phone number search")
        BUSINESS_CARD = 3, _("shared business card")
        GROUP_CHAT = 4, _("group chat")
        PHONE_CONTACTS = 5, _("phone contacts")
        WECHAT_CONTACTS = 6, _("WeChat contacts")
        THIRD_PARTY = 8, _("added by a third-party app")
        EMAIL_SEARCH = 9, _("email search")
        CHANNELS = 10, _("WeChat Channels page")
        INTERNAL_SHARE = 201, _("shared by a colleague")
        ADMIN_ASSIGNMENT = 202, _("assigned by an admin")

    # No single-column indexes: the composite ones below lead with each column.
    associate = models.ForeignKey(
        Associate, verbose_name=_("associate"), on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    added_at = models.DateTimeField(_("added at"))
    remark = models.CharField(_("remark"), max_length=255, blank=True)
    description = models.CharField(_("description"), max_length=255, blank=True)
    add_way = models.PositiveSmallIntegerField(_("added by"), choices=AddWay.choices, default=AddWay.UNKNOWN)
    state = models.CharField(_("channel"), max_length=64, blank=True, help_text=_("The 'state' of a contact-me QR."))
    tags = models.ManyToManyField(CustomerTag, verbose_name=_("tags"), through="ContactTag", related_name="contacts")
    is_active = models.BooleanField(_("active"), default=True, help_text=_("False once either side removed the other."))
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            # Serves "contacts of an associate" and the upsert key of directory sync.
            models.UniqueConstraint(fields=["associate", "customer"], name="contact_associate_customer_unique"),
        ]
        indexes = [
            # Serves "associates of a customer" (duplicate exposure, customer timeline).
            models.Index(fields=["customer", "associate"], name="contact_customer_associate"),
            # Serves "the 200 earliest-added contacts of an unverified associate" (DESIGN.md §4).
            models.Index(fields=["associate", "added_at"], name="contact_associate_added_at"),
            # Serves "contacts who came through a channel code" (campaigns.channels.new_contacts_by_campaign,
            # the dashboards' new contacts): few contacts carry a state, so the index stays small.
            models.Index(fields=["state", "associate"], condition=~Q(state=""), name="contact_channel_state"),
            # Serves "how many active contacts an associate has" as an index-only count (the dashboards'
            # readiness, associate pages): without it each count reads the associate's rows from the heap.
            models.Index(fields=["associate"], condition=Q(is_active=True), name="contact_active_associate"),
        ]

    def __str__(self) -> str:
        return f"{self.associate_id} ↔ {self.customer_id}"


class ContactTag(models.Model):
    """An enterprise tag on a contact (WeCom tags live on the associate↔customer link)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, db_index=False)
    tag = models.ForeignKey(CustomerTag, on_delete=models.CASCADE, db_index=False)

    class Meta:
        verbose_name = _("contact tag")
        verbose_name_plural = _("contact tags")
        constraints = [
            # Serves "tags of a contact".
            models.UniqueConstraint(fields=["contact", "tag"], name="contact_tag_unique"),
        ]
        indexes = [
            # Serves "contacts with tag T" (audience of a tag-targeted variant).
            models.Index(fields=["tag", "contact"], name="contact_tag_tag_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} #{self.tag_id}"


class ManagerAssignment(models.Model):
    """User U manages department D and everything below it."""

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="manager_assignments", db_index=False
    )
    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.CASCADE, related_name="manager_assignments"
    )

    class Meta:
        verbose_name = _("managed department")
        verbose_name_plural = _("managed departments")
        constraints = [
            models.UniqueConstraint(fields=["user", "department"], name="manager_assignment_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.department}"


class DirectorySyncRun(models.Model):
    """One run of the directory sync: progress, counts, and a checkpoint to resume from."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.RUNNING)
    stage = models.CharField(_("stage"), max_length=32, blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Follows are synced in chunks of members in userid order; a resumed run skips
    # the chunks up to and including this userid.
    checkpoint_userid = models.CharField(_("checkpoint"), max_length=64, blank=True)
    counts = models.JSONField(_("counts"), default=dict)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("directory sync")
        verbose_name_plural = _("directory syncs")
        ordering = ["-started_at"]
        constraints = [
            # At most one sync runs at a time.
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="running"), name="directory_sync_one_running"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.get_status_display()}"


class CallbackEvent(models.Model):
    """A WeCom callback event as received (decrypted), applied once by a task.

    ``key`` identifies the event so that WeCom's retries and replays are stored
    once: its MsgId when it has one, else the fields that make an event unique
    (wecom-api.md §6.3: dedupe by FromUserName + CreateTime for events).
    """

    key = models.CharField(_("key"), max_length=255, unique=True)
    event = models.CharField(_("event"), max_length=64)
    change_type = models.CharField(_("change type"), max_length=64, blank=True)
    payload = models.JSONField(_("payload"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("WeCom callback")
        verbose_name_plural = _("WeCom callbacks")
        ordering = ["-received_at"]
        indexes = [
            # Serves the reconciler's "events not applied yet".
            models.Index(fields=["received_at"], condition=models.Q(applied_at__isnull=True), name="callback_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.event}/{self.change_type} {self.received_at:%Y-%m-%d %H:%M:%S}"
