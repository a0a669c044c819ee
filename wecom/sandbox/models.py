"""The sandbox's own state: what WeCom would hold for one enterprise.

Separate tables from the app's directory on purpose: the app learns the
directory only by syncing it over HTTP, as it would from WeCom.
"""

from __future__ import annotations

from django.db import models


class AccessToken(models.Model):
    token = models.CharField(max_length=512, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"token …{self.token[-6:]}"


class Department(models.Model):
    """A WeCom department; ``id`` is WeCom's own id (1 is the root)."""

    id = models.PositiveIntegerField(primary_key=True)
    name = models.CharField(max_length=64)
    name_en = models.CharField(max_length=64, blank=True)
    parentid = models.PositiveIntegerField(default=0)
    order = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    class Status(models.IntegerChoices):
        ACTIVE = 1
        DISABLED = 2
        NOT_ACTIVATED = 4
        LEFT = 5

    userid = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=64)
    department = models.JSONField(default=list)  # list of department ids, as WeCom returns it
    main_department = models.PositiveIntegerField(default=1)
    position = models.CharField(max_length=128, blank=True)
    gender = models.CharField(max_length=1, default="0")
    avatar = models.CharField(max_length=512, blank=True)
    status = models.PositiveSmallIntegerField(choices=Status.choices, default=Status.ACTIVE)
    # Control-plane facts WeCom does not expose through the API:
    is_verified = models.BooleanField(default=True)  # unverified: reaches at most 200 customers
    is_licensed = models.BooleanField(default=True)  # without a basic API license: `unlicenseduser`

    def __str__(self) -> str:
        return self.userid


class Customer(models.Model):
    external_userid = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    type = models.PositiveSmallIntegerField(default=1)
    gender = models.PositiveSmallIntegerField(default=0)
    avatar = models.CharField(max_length=512, blank=True)
    corp_name = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return self.external_userid


class TagGroup(models.Model):
    group_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=64)
    order = models.PositiveIntegerField(default=0)
    create_time = models.BigIntegerField(default=0)
    deleted = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    tag_id = models.CharField(max_length=64, unique=True)
    group = models.ForeignKey(TagGroup, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=64)
    order = models.PositiveIntegerField(default=0)
    create_time = models.BigIntegerField(default=0)
    deleted = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Follow(models.Model):
    """A member ↔ customer relationship (WeCom's follow_user / follow_info)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="follows", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="follows", db_index=False)
    createtime = models.BigIntegerField()
    remark = models.CharField(max_length=255, blank=True)
    description = models.CharField(max_length=255, blank=True)
    add_way = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=64, blank=True)
    tags = models.ManyToManyField(Tag, through="FollowTag", related_name="follows")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "customer"], name="sandbox_follow_unique")]
        indexes = [
            # Serves batch/get_by_user's keyset pages: (member, id) > cursor.
            models.Index(fields=["member", "id"], name="sandbox_follow_member_id"),
            # Serves "follow-up members of a customer".
            models.Index(fields=["customer", "member"], name="sandbox_follow_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} ↔ {self.customer_id}"


class FollowTag(models.Model):
    follow = models.ForeignKey(Follow, on_delete=models.CASCADE, db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["follow", "tag"], name="sandbox_follow_tag_unique")]
        indexes = [models.Index(fields=["tag", "follow"], name="sandbox_follow_tag_tag")]

    def __str__(self) -> str:
        return f"{self.follow_id} #{self.tag_id}"


class Media(models.Model):
    media_id = models.CharField(max_length=128, unique=True)
    media_type = models.CharField(max_length=8)
    attachment_type = models.PositiveSmallIntegerField(null=True)
    filename = models.CharField(max_length=255)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.media_id


class Message(models.Model):
    """An app message as received, one row per recipient member."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered"
        DUPLICATE = "duplicate"  # enable_duplicate_check: same content within the interval
        DROPPED = "dropped"  # over 30/min or 1000/h to this member: WeCom drops it silently

    msgid = models.CharField(max_length=64, db_index=True)
    userid = models.CharField(max_length=64)
    msgtype = models.CharField(max_length=32)
    content = models.JSONField()
    content_hash = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Serves the per-member rate windows and the duplicate check.
            models.Index(fields=["userid", "received_at"], name="sandbox_message_member_time"),
        ]

    def __str__(self) -> str:
        return f"{self.msgid} → {self.userid} ({self.outcome})"


class Fault(models.Model):
    """An injected fault (control plane): on ``endpoint`` (or ``*``), with
    probability ``rate``, answer ``errcode`` or HTTP ``http_status``, after
    ``latency_ms``, or drop the connection mid-response."""

    endpoint = models.CharField(max_length=128, default="*")
    rate = models.FloatField(default=1.0)
    errcode = models.IntegerField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    drop_connection = models.BooleanField(default=False)
    remaining = models.PositiveIntegerField(null=True, blank=True, help_text="stop after this many hits")

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.errcode or self.http_status or 'fault'}"
