"""The sandbox's own state: what WeCom would hold for one enterprise.

Separate tables from the app's directory on purpose: the app learns the
directory only by syncing it over HTTP, as it would from WeCom.
"""

from __future__ import annotations

from django.db import models


class JsapiTicket(models.Model):
    """A ticket the sandbox issued (get_jsapi_ticket / ticket/get): the JS-SDK's
    ``agentConfig`` signatures are checked against these."""

    class Kind(models.TextChoices):
        CORP = "corp"
        AGENT = "agent_config"

    ticket = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind} ticket …{self.ticket[-6:]}"


class OAuthCode(models.Model):
    """A code the sandbox's ``connect/oauth2/authorize`` gave a member's client:
    ``auth/getuserinfo`` takes it once, within 5 minutes."""

    code = models.CharField(max_length=64, unique=True)
    userid = models.CharField(max_length=64)
    agentid = models.IntegerField(null=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"OAuth code for {self.userid}"


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
    ``latency_ms``, or drop the connection mid-response. With ``after_effect`` the
    request takes effect first and only its answer fails: the caller cannot tell
    whether it worked (the hardest case for exactly-once)."""

    endpoint = models.CharField(max_length=128, default="*")
    rate = models.FloatField(default=1.0)
    errcode = models.IntegerField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    drop_connection = models.BooleanField(default=False)
    remaining = models.PositiveIntegerField(null=True, blank=True, help_text="stop after this many hits")
    after_effect = models.BooleanField(default=False, help_text="the request takes effect, then its answer fails")

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.errcode or self.http_status or 'fault'}"


# --- Customer Moments -------------------------------------------------------------------------
class MomentJob(models.Model):
    """An ``add_moment_task`` job: created at once, resolved into a Moment when it
    is done (``get_moment_task_result`` status 1 → 3, wecom-api.md §1.3)."""

    class Status(models.IntegerChoices):
        STARTED = 1
        CREATING = 2
        DONE = 3

    jobid = models.CharField(max_length=64, unique=True)
    request = models.JSONField()  # the add_moment_task body as received (validated)
    status = models.PositiveSmallIntegerField(choices=Status.choices, default=Status.STARTED)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    ready_at = models.DateTimeField()  # the job is done when polled after this

    def __str__(self) -> str:
        return self.jobid


class Moment(models.Model):
    """A moment: an enterprise task (create_type 0, published by each executor)
    or a member's personal post (create_type 1)."""

    class CreateType(models.IntegerChoices):
        ENTERPRISE = 0
        PERSONAL = 1

    moment_id = models.CharField(max_length=64, unique=True)
    create_type = models.PositiveSmallIntegerField(choices=CreateType.choices)
    creator = models.ForeignKey(Member, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    create_time = models.DateTimeField()
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list)  # add_moment_task's attachments[]
    tag_ids = models.JSONField(default=list)  # visible only to customers with one of these tags
    cancelled = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["create_time", "id"], name="sandbox_moment_time")]

    def __str__(self) -> str:
        return self.moment_id

    @property
    def visible_type(self) -> int:
        return 0 if self.tag_ids else 1  # 0 partially visible, 1 public


class MomentTask(models.Model):
    """An executor of an enterprise moment and whether they published it."""

    moment = models.ForeignKey(Moment, on_delete=models.CASCADE, related_name="tasks")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", db_index=False)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["moment", "member"], name="sandbox_moment_task_unique")]
        indexes = [models.Index(fields=["member", "moment"], name="sandbox_moment_task_member")]

    def __str__(self) -> str:
        return f"{self.moment_id} → {self.member_id}"

    @property
    def publish_status(self) -> int:
        return int(self.published_at is not None)


class MomentVisible(models.Model):
    """The customers chosen as visible when a member published (get_moment_customer_list)."""

    moment = models.ForeignKey(Moment, on_delete=models.CASCADE, db_index=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, db_index=False)

    class Meta:
        constraints = [
            # Also serves the keyset pages: (moment, member, customer) > cursor.
            models.UniqueConstraint(fields=["moment", "member", "customer"], name="sandbox_moment_visible_unique")
        ]

    def __str__(self) -> str:
        return f"{self.moment_id}/{self.member_id} → {self.customer_id}"


class FeedCount(models.Model):
    """How many moments of ``member`` reached ``customer``'s feed on local ``day``.

    The feed cap is enforced by one conditional upsert on this row
    (``… ON CONFLICT DO UPDATE SET shown = shown + 1 WHERE shown < cap``), never
    read-then-write, so concurrent publishes cannot both take the last slot."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, db_index=False)
    day = models.DateField()
    shown = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "customer", "day"], name="sandbox_feed_count_unique")]

    def __str__(self) -> str:
        return f"{self.member_id} → {self.customer_id} on {self.day}: {self.shown}"


class MomentDelivery(models.Model):
    """A customer who got the moment in their feed (get_moment_send_result)."""

    moment = models.ForeignKey(Moment, on_delete=models.CASCADE, db_index=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, db_index=False)
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["moment", "member", "customer"], name="sandbox_moment_delivery_unique")
        ]

    def __str__(self) -> str:
        return f"{self.moment_id}/{self.member_id} → {self.customer_id}"


class MomentInteraction(models.Model):
    """A like or a comment on one member's copy of a moment, by a customer or a member."""

    class Kind(models.TextChoices):
        LIKE = "like"
        COMMENT = "comment"

    moment = models.ForeignKey(Moment, on_delete=models.CASCADE, db_index=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    external_userid = models.CharField(max_length=64, blank=True)
    userid = models.CharField(max_length=64, blank=True)
    content = models.CharField(max_length=500, blank=True)
    create_time = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["moment", "member", "create_time"], name="sandbox_interaction_post")]
        constraints = [
            # One like per person per post (a comment may repeat).
            models.UniqueConstraint(
                fields=["moment", "member", "external_userid", "userid"],
                condition=models.Q(kind="like"),
                name="sandbox_interaction_one_like",
            ),
            models.CheckConstraint(
                condition=(models.Q(external_userid="") & ~models.Q(userid=""))
                | (~models.Q(external_userid="") & models.Q(userid="")),
                name="sandbox_interaction_one_actor",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.external_userid or self.userid}"


class RateWindow(models.Model):
    """A fixed-window counter (e.g. add_moment_task: 10 per minute per enterprise),
    claimed with a conditional upsert like FeedCount."""

    name = models.CharField(max_length=64)
    window_start = models.BigIntegerField()  # Unix seconds // window length
    used = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "window_start"], name="sandbox_rate_window_unique")]

    def __str__(self) -> str:
        return f"{self.name}@{self.window_start}: {self.used}"


class CallbackDelivery(models.Model):
    """An event the sandbox pushed (or tried to push) to the app's callback URL."""

    event = models.CharField(max_length=64)
    change_type = models.CharField(max_length=64, blank=True)
    payload = models.TextField()  # the plaintext XML
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.event}/{self.change_type}"


# --- Contact ways ("contact me") and welcome messages (docs/wecom-contact-way.md) ----------------
class ContactWay(models.Model):
    """A "contact me" made by ``add_contact_way``: one member's (type 1) or several
    members' (type 2) QR code or mini-program button, carrying the enterprise's ``state``."""

    config_id = models.CharField(max_length=64, unique=True)
    type = models.PositiveSmallIntegerField()
    scene = models.PositiveSmallIntegerField()
    style = models.PositiveSmallIntegerField(null=True, blank=True)
    remark = models.CharField(max_length=64, blank=True)
    skip_verify = models.BooleanField(default=True)
    state = models.CharField(max_length=64, blank=True)
    user = models.JSONField(default=list)  # userids, lower-cased as the directory has them
    party = models.JSONField(default=list)  # department ids
    is_temp = models.BooleanField(default=False)
    expires_in = models.PositiveIntegerField(null=True, blank=True)
    chat_expires_in = models.PositiveIntegerField(null=True, blank=True)
    unionid = models.CharField(max_length=128, blank=True)
    conclusions = models.JSONField(null=True, blank=True)
    qr_code = models.CharField(max_length=512, blank=True)  # scene 2 only
    adds = models.PositiveIntegerField(default=0)  # customers who added a member through it
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.config_id} ({self.state or 'no state'})"


class WelcomeCode(models.Model):
    """The ``WelcomeCode`` pushed with an ``add_external_contact`` event. ``send_welcome_msg``
    takes it once, within 20 s of ``issued_at``; what it sent is kept here, as the customer
    received it (the control plane reads it back)."""

    code = models.CharField(max_length=64, unique=True)
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    issued_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list)

    class Meta:
        indexes = [
            # Serves the control plane's "welcome messages this customer received".
            models.Index(fields=["external_userid", "sent_at"], name="sandbox_welcome_customer"),
        ]

    def __str__(self) -> str:
        return f"welcome {self.userid} → {self.external_userid}"
