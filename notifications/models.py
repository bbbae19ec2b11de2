"""Who hears about releases (subscribers, key-account contacts), what they were sent (the
outbox: one Message per thing to say, one Delivery per recipient) and who acknowledged."""

from __future__ import annotations

import contextlib
import re
import secrets
import uuid
from urllib.parse import urlsplit

from django.db import models
from django.utils import timezone

from lib.text import single_line
from notes.models import AdvanceNotice
from releases.models import Component, Release, ReleaseEvent


class Topic(models.TextChoices):
    """What a subscriber can ask to hear about."""

    ITEMS = "items", "Items to be released"
    RELEASED = "released", "Released"
    ROLLED_BACK = "rolled_back", "Rolled back"
    NOTICES = "notices", "Advance notices (published, revised, withdrawn)"
    STATUS = "status", "Service status (incidents, updates, back to normal)"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def mailbox_of(email: str) -> str:
    """The mailbox a provider delivers ``email`` to: lower-case, unquoted, without a +tag.

    ``"Victim+1"@Example.com``, ``victim+2@example.com`` and ``VICTIM@example.com`` reach one
    inbox, so a limit kept per address would not protect it.
    """
    local, _, domain = email.strip().rpartition("@")
    if len(local) >= 2 and local.startswith('"') and local.endswith('"'):
        local = re.sub(r"\\(.)", r"\1", local[1:-1])  # a quoted local part, its escapes undone
    domain = domain.lower()
    with contextlib.suppress(UnicodeError):  # exämple.com is xn--exmple-cua.com
        domain = domain.encode("idna").decode("ascii")
    return f"{local.partition('+')[0]}@{domain}".lower()


def host_of(url: str) -> str:
    """A webhook URL's host name, lower-case (an IPv6 literal without its brackets)."""
    return urlsplit(url).hostname or ""


class TopicScope(models.Model):
    """What someone (a subscriber) or something (a channel) hears about: topics, components."""

    on_items = models.BooleanField(Topic.ITEMS.label, default=True)
    on_released = models.BooleanField(Topic.RELEASED.label, default=True)
    on_rolled_back = models.BooleanField(Topic.ROLLED_BACK.label, default=True)
    on_notices = models.BooleanField(Topic.NOTICES.label, default=True)
    on_status = models.BooleanField(Topic.STATUS.label, default=True)
    all_components = models.BooleanField(default=True)
    components = models.ManyToManyField(Component, blank=True, related_name="+")

    class Meta:
        abstract = True

    @property
    def topics(self) -> list[str]:
        return [t.value for t in Topic if getattr(self, f"on_{t.value}")]

    @property
    def topic_labels(self) -> list[str]:
        """The topics as people read them ("Rolled back", not "rolled_back")."""
        return [t.label for t in Topic if getattr(self, f"on_{t.value}")]

    def set_topics(self, topics) -> None:
        for topic in Topic:
            setattr(self, f"on_{topic.value}", topic.value in topics)


class TopicQuerySet(models.QuerySet):
    def in_scope(self, topic: str, component_id: int | None):
        """Those who want ``topic`` for this component (or for all)."""
        scope = models.Q(all_components=True)
        if component_id is not None:
            scope |= models.Q(components=component_id)
        return self.filter(scope, **{f"on_{topic}": True}).distinct()


class SubscriberQuerySet(TopicQuerySet):
    def active(self):
        """Confirmed and not unsubscribed: the only ones anything is sent to."""
        return self.filter(confirmed_at__isnull=False, unsubscribed_at__isnull=True)

    def for_topic(self, topic: str, component_id: int | None):
        """Active subscribers of ``topic`` who want news of this component (or of all)."""
        return self.active().in_scope(topic, component_id)


class Subscriber(TopicScope):
    """An e-mail address (double opt-in), an HTTPS webhook with its own signing secret, or a
    mobile number for SMS (confirmed by a code sent to it)."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"
        SMS = "sms", "SMS"

    channel = models.CharField(max_length=8, choices=Channel.choices)
    email = models.EmailField(blank=True)
    phone = models.CharField(
        "mobile number",
        max_length=16,
        blank=True,
        help_text="E.164 (+ country code and number), as the SMS gateway takes it.",
    )
    url = models.URLField("webhook URL", max_length=500, blank=True)
    mailbox = models.CharField(
        max_length=254,
        blank=True,
        editable=False,
        db_index=True,
        help_text="The e-mail address as its provider delivers it (lower-case, unquoted, no "
        "+tag): confirmations are limited per mailbox.",
    )
    host = models.CharField(
        max_length=253,
        blank=True,
        editable=False,
        db_index=True,
        help_text="The webhook URL's host: subscriptions awaiting verification are limited "
        "per host.",
    )
    secret = models.CharField(
        max_length=64, default=new_secret, help_text="Signs every webhook body (HMAC-SHA256)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Nothing is sent before the address is confirmed (an e-mail address by its "
        "link, a webhook by its endpoint echoing the verification request's challenge, a mobile "
        "number by the code sent to it).",
    )
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email"], condition=~models.Q(email=""), name="one_subscriber_per_email"
            ),
            models.UniqueConstraint(
                fields=["url"], condition=~models.Q(url=""), name="one_subscriber_per_url"
            ),
            models.UniqueConstraint(
                fields=["phone"], condition=~models.Q(phone=""), name="one_subscriber_per_phone"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(channel="email")
                    & ~models.Q(email="")
                    & models.Q(url="")
                    & models.Q(phone="")
                )
                | (
                    models.Q(channel="webhook")
                    & ~models.Q(url="")
                    & models.Q(email="")
                    & models.Q(phone="")
                )
                | (
                    models.Q(channel="sms")
                    & ~models.Q(phone="")
                    & models.Q(email="")
                    & models.Q(url="")
                ),
                name="subscriber_has_one_address_of_its_channel",
            ),
        ]
        indexes = [models.Index(fields=["confirmed_at", "unsubscribed_at"])]

    def __str__(self):
        return self.address

    def save(self, *args, **kwargs):
        # Derived here, so every way a subscriber is made (the form, the admin, the demo,
        # fixtures) keeps it in step with the address. A number is its own mailbox.
        self.mailbox = mailbox_of(self.email) if self.email else self.phone
        self.host = host_of(self.url)
        super().save(*args, **kwargs)

    @property
    def address(self) -> str:
        return self.email or self.url or self.phone

    @property
    def is_active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


class ChannelQuerySet(TopicQuerySet):
    def broadcasting(self, topic: str, component_id: int | None):
        """The active accounts that post ``topic`` for this component."""
        return self.filter(is_active=True, purpose=Channel.Purpose.BROADCAST).in_scope(
            topic, component_id
        )

    def sms_gateway(self):
        """The SMS gateway phone subscribers are texted through (the first active, by name)."""
        return self.filter(is_active=True, purpose=Channel.Purpose.SMS).order_by("name").first()


class Channel(TopicScope):
    """An account Nightshift posts to (Mastodon, X, Slack, Teams, …) or the SMS gateway it
    texts phone subscribers through: one Apprise URL each.

    The URL holds the account's credentials: it is stored, never shown again (only Apprise's
    masked form of it), and replaced whole, never edited.
    """

    class Purpose(models.TextChoices):
        BROADCAST = "broadcast", "Posts its topics to an account (social, chat)"
        SMS = "sms", "Texts phone subscribers (an SMS gateway)"

    class Form(models.TextChoices):
        AUTO = "auto", "As the service takes it (short where it takes 1,000 characters or fewer)"
        SHORT = "short", "Short: at most 280 characters with the link (SMS, social)"
        LONG = "long", "Long: the subject and the whole text (chat)"

    name = models.CharField(
        max_length=80,
        unique=True,
        validators=[single_line],
        help_text='How the desk names it, e.g. "@releases" or "@status".',
    )
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.BROADCAST)
    url = models.TextField(editable=False, help_text="The Apprise URL (secret).")
    service = models.CharField(
        max_length=80, editable=False, help_text="The service the URL names, as Apprise calls it."
    )
    masked_url = models.CharField(
        "URL (masked)",
        max_length=500,
        editable=False,
        help_text="The URL with its secrets hidden, as Apprise shows it.",
    )
    body_limit = models.PositiveIntegerField(
        editable=False, default=0, help_text="The most characters the service takes in a post."
    )
    form = models.CharField(max_length=5, choices=Form.choices, default=Form.AUTO)
    is_active = models.BooleanField(
        "active",
        default=True,
        help_text="An inactive channel is sent nothing; what was queued for it is skipped.",
    )
    inbound_token = models.CharField(
        max_length=64,
        default=new_secret,
        editable=False,
        help_text="Names this gateway's inbound-SMS address (replies such as STOP).",
    )
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    url_replaced_at = models.DateTimeField("URL replaced at", null=True, blank=True, editable=False)

    objects = ChannelQuerySet.as_manager()

    # This many failures in a row and the channel shows as unhealthy on the outbox page.
    UNHEALTHY_AFTER = 3

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures < self.UNHEALTHY_AFTER

    @property
    def short(self) -> bool:
        """Does it take the short form?"""
        if self.form == self.Form.AUTO:
            return self.purpose == self.Purpose.SMS or 0 < self.body_limit <= 1000
        return self.form == self.Form.SHORT


class CustomerAccount(models.Model):
    """A customer; key accounts are informed directly of every advance notice."""

    class Tier(models.TextChoices):
        KEY = "key", "Key account"
        STANDARD = "standard", "Standard"

    name = models.CharField(max_length=120, unique=True)
    tier = models.CharField(max_length=8, choices=Tier.choices, default=Tier.STANDARD)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Contact(models.Model):
    """A person at a customer account who receives notices (key accounts) and acknowledges."""

    account = models.ForeignKey(CustomerAccount, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=120)
    email = models.EmailField()
    is_active = models.BooleanField("active", default=True)

    class Meta:
        ordering = ["account__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "email"], name="one_contact_per_email")
        ]

    def __str__(self):
        return f"{self.name} <{self.email}> ({self.account})"


class Acknowledgement(models.Model):
    """A key-account contact said they read this revision of a notice, and when."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="acknowledgements")
    notice = models.ForeignKey(
        AdvanceNotice, on_delete=models.CASCADE, related_name="acknowledgements"
    )
    revision = models.PositiveIntegerField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "notice", "revision"], name="one_ack_per_revision"
            )
        ]

    def __str__(self):
        return f"{self.contact} acknowledged {self.notice} r{self.revision}"


class Message(models.Model):
    """One thing to tell people, written once; its deliveries carry it to each recipient.

    ``key`` names what caused it (a timeline event, a reminder threshold…), so the same cause
    can never produce a second message.
    """

    class Kind(models.TextChoices):
        ITEMS = "items", "Items to be released"
        RELEASED = "released", "Released"
        ROLLED_BACK = "rolled_back", "Rolled back"
        NOTICE_PUBLISHED = "notice.published", "Advance notice published"
        NOTICE_REVISED = "notice.revised", "Advance notice revised"
        NOTICE_WITHDRAWN = "notice.withdrawn", "Advance notice withdrawn"
        NOTICE_REMINDER = "notice.reminder", "Advance notice reminder"
        APPROVAL_NEEDED = "approval.needed", "Approval needed"
        APPROVAL_INVALIDATED = "approval.invalidated", "Approval request invalidated"
        MISSED_WINDOW = "release.missed_window", "Missed window"
        STRANDED = "release.stranded", "Stranded by a rule change"
        RULE_CHANGE = "rules.change", "Rule change to decide"
        RULE_DECIDED = "rules.decided", "Rule change decided"
        CONFIRM = "subscription.confirm", "Subscription confirmation"
        VERIFY = "subscription.verify", "Webhook verification"
        AUDIT_ANCHOR = "audit.anchor", "Audit log anchor"
        AUDIT_BROKEN = "audit.broken", "Audit log verification failed"
        STATUS = "status.update", "Service status"
        STATUS_OVERDUE = "status.overdue", "Incident update overdue"
        STATUS_PROBE = "status.probe", "Incident opened by a probe"
        CHANNEL_TEST = "channel.test", "Channel test"

    key = models.CharField(max_length=150, unique=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    subject = models.CharField(max_length=250)
    text = models.TextField(help_text="The e-mail body, before each recipient's own links.")
    short = models.CharField(
        "short form",
        max_length=300,
        blank=True,
        help_text="For SMS and social posts: at most 280 characters, with the public page's link.",
    )
    data = models.JSONField(default=dict, help_text="The webhook body's data.")
    event = models.ForeignKey(
        ReleaseEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    release = models.ForeignKey(
        Release, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    notice = models.ForeignKey(
        AdvanceNotice, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    revision = models.PositiveIntegerField(null=True, blank=True)
    held_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Not sent before then: later edits of the same notice join this message.",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.subject


class Delivery(models.Model):
    """The outbox: one message to one recipient, until it is delivered or dead.

    Written in the transaction of the event that causes it; a django-q2 task sends it, and the
    sweeper queues again whatever is due and not in flight, so a lost task loses nothing.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead"
        SKIPPED = "skipped", "Skipped (unsubscribed, or its channel is off)"

    uuid = models.UUIDField(
        "delivery id", default=uuid.uuid4, unique=True, editable=False, help_text="Idempotency key."
    )
    # A Channel's posts are deliveries too, to the channel's name.
    CHANNEL = "channel"
    CHANNELS = [*Subscriber.Channel.choices, (CHANNEL, "Channel account")]

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField("medium", max_length=8, choices=CHANNELS)
    address = models.CharField(
        max_length=500,
        help_text="The e-mail address, webhook URL, mobile number or channel name.",
    )
    via = models.ForeignKey(
        Channel,
        verbose_name="channel account",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        help_text="The channel posted to (for SMS: the gateway it last went through).",
    )
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When a task was last queued for it."
    )
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then."
    )
    claimed_by = models.UUIDField(
        null=True, blank=True, editable=False, help_text="The claim of the task sending it."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # One message reaches an address once, whoever it is there for.
            models.UniqueConstraint(
                fields=["message", "channel", "address"], name="one_delivery_per_recipient"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.message.kind} → {self.address}"
