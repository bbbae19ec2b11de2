from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from accounts.desk import DeskTimeMixin
from lib.instants import html as instant
from notes.admin import AdvanceNoticeAdmin
from notes.models import AdvanceNotice
from notifications import acknowledgements, channels, outbox, subscriptions
from notifications.messages import url as messages_url
from notifications.models import (
    Channel,
    Contact,
    CustomerAccount,
    Delivery,
    Message,
    Subscriber,
    Topic,
)


def _deliveries_link(text: str, **filters) -> str:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return format_html(
        '<a href="{}?{}">{}</a>', reverse("admin:notifications_delivery_changelist"), query, text
    )


def _recent_deliveries(obj, link_text: str, **filters) -> str:
    """A subscriber's or a channel's last 20 deliveries, and a link to all of them."""
    recent = obj.deliveries.select_related("message").order_by("-created_at", "-id")[:20]
    table = render_to_string("notifications/admin_deliveries.html", {"deliveries": recent})
    return format_html("{}{}", table, _deliveries_link(link_text, **filters))


@admin.register(Subscriber)
class SubscriberAdmin(DeskTimeMixin, admin.ModelAdmin):
    """Subscribers sign up on the public page (e-mail needs its confirmation link)."""

    list_display = ["address", "channel", "topic_list", "confirmed_at", "unsubscribed_at"]
    list_filter = [
        "channel",
        ("confirmed_at", admin.EmptyFieldListFilter),
        ("unsubscribed_at", admin.EmptyFieldListFilter),
        "on_items",
        "on_released",
        "on_rolled_back",
        "on_notices",
        "on_status",
    ]
    search_fields = ["email", "url", "phone"]
    # The signing secret is shown once, to whoever subscribed or rotated it: never listed here.
    fields = [
        "channel",
        "email",
        "url",
        "phone",
        ("on_items", "on_released", "on_rolled_back", "on_notices", "on_status"),
        "all_components",
        "components",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
        "delivery_history",
    ]
    readonly_fields = [
        "channel",
        "email",
        "url",
        "phone",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
        "delivery_history",
    ]
    filter_horizontal = ["components"]
    actions = ["unsubscribe", "rotate_secret"]

    def has_add_permission(self, request):
        return False

    @admin.action(
        description="Rotate the signing secret of the selected webhooks", permissions=["change"]
    )
    def rotate_secret(self, request, queryset):
        rotated = [
            (subscriber, subscriptions.subscriber_rotate_secret(subscriber=subscriber))
            for subscriber in queryset.filter(channel=Subscriber.Channel.WEBHOOK)
        ]
        if not rotated:
            self.message_user(request, "Only webhooks have a signing secret.", messages.WARNING)
            return None
        response = TemplateResponse(
            request,
            "admin/notifications/subscriber/rotated.html",
            {
                **self.admin_site.each_context(request),
                "title": "New signing secrets",
                "rotated": rotated,
                "opts": self.model._meta,
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="Topics")
    def topic_list(self, obj):
        return ", ".join(obj.topic_labels)

    @admin.display(description="Deliveries")
    def delivery_history(self, obj):
        return _recent_deliveries(obj, "All deliveries to this subscriber", subscriber=obj.pk)

    @admin.action(description="Unsubscribe the selected subscribers", permissions=["change"])
    def unsubscribe(self, request, queryset):
        for subscriber in queryset:
            subscriptions.subscriber_unsubscribe(subscriber=subscriber)
        self.message_user(request, f"{queryset.count()} unsubscribed.", messages.SUCCESS)


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 1
    fields = ["name", "email", "is_active"]


@admin.register(CustomerAccount)
class CustomerAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "tier", "contact_count"]
    list_filter = ["tier"]
    search_fields = ["name", "contacts__email"]
    inlines = [ContactInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(contact_total=Count("contacts", filter=Q(contacts__is_active=True)))
        )

    @admin.display(description="Active contacts", ordering="contact_total")
    def contact_count(self, obj):
        return obj.contact_total


class ChannelForm(forms.ModelForm):
    """The URL is a secret: typed once, never shown again; a new one replaces it whole."""

    new_url = forms.CharField(
        label="Apprise URL",
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 80}),
        help_text="One URL names the service and its credentials, e.g. mastodons://TOKEN@"
        "mastodon.social, x://CKey/CSecret/AKey/ASecret?mode=tweet, slack://TokenA/TokenB/"
        "TokenC/#releases, workflows://… (Teams) or twilio://SID:Token@FromNumber (an SMS "
        "gateway). It is stored and never shown again; on a channel that has one, leave this "
        "empty to keep it, or give a new one to replace it. See the README, “Channels”.",
    )
    topics = forms.MultipleChoiceField(
        choices=Topic.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What it posts (an SMS gateway posts nothing of its own: it ignores these).",
    )

    class Meta:
        model = Channel
        fields = ["name", "purpose", "new_url", "form", "topics", "components", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topics"].initial = self.instance.topics if self.instance.pk else []
        if "components" in self.fields:  # not for a reader, who sees it read-only
            self.fields["components"].help_text = "None chosen: every component."
        if self.instance.pk is None:
            self.fields["new_url"].required = True

    def clean(self):
        cleaned = super().clean()
        # The service decides, before anything is saved: Apprise reads the URL, the topics.
        channel = self.instance
        for name in ("name", "purpose", "form", "is_active"):
            if name in cleaned:
                setattr(channel, name, cleaned[name])
        try:
            self.checked = channels.check(
                channel, url=cleaned.get("new_url") or "", topics=cleaned.get("topics", [])
            )
        except channels.ChannelInvalid as exc:
            for field, error in exc.errors.items():
                field = {"url": "new_url"}.get(field, field)
                self.add_error(field if field in self.fields else None, error)
        return cleaned


@admin.register(Channel)
class ChannelAdmin(DeskTimeMixin, admin.ModelAdmin):
    """Accounts Nightshift posts to and the SMS gateway, each one Apprise URL (a secret)."""

    form = ChannelForm
    list_display = ["name", "purpose", "service", "topic_list", "is_active", "health"]
    list_filter = ["purpose", "is_active", "service"]
    search_fields = ["name", "service"]
    filter_horizontal = ["components"]
    readonly_fields = [
        "topic_list",
        "service",
        "masked_url",
        "body_limit",
        "url_replaced_at",
        "health",
        "inbound_address",
        "delivery_history",
    ]
    actions = ["send_test"]

    def get_fieldsets(self, request, obj=None):
        editing = [
            ("Channel", {"fields": ["name", "purpose", "new_url", "form", "is_active"]}),
            ("What it posts", {"fields": ["topics", "components"]}),
        ]
        if obj is None:
            return editing
        may_change = self.has_change_permission(request, obj)
        if not may_change:  # a reader: what it is, without the URL's field
            editing = [
                ("Channel", {"fields": ["name", "purpose", "form", "is_active"]}),
                ("What it posts", {"fields": ["topic_list", "components"]}),
            ]
        # The inbound address is a credential (it stops numbers): for those who may change it.
        health = ["health", "delivery_history"]
        if obj.purpose == Channel.Purpose.SMS and may_change:
            health.insert(1, "inbound_address")
        return [
            *editing,
            (
                "The service",
                {"fields": ["service", "masked_url", "body_limit", "url_replaced_at"]},
            ),
            ("Health", {"fields": health}),
        ]

    def save_model(self, request, obj, form, change):
        channels.channel_save(
            form.checked,
            topics=form.cleaned_data.get("topics"),
            components=form.cleaned_data.get("components"),
        )

    def save_related(self, request, form, formsets, change):
        """The service set the components (an empty choice is every component)."""

    @admin.display(description="Topics")
    def topic_list(self, obj):
        if obj.purpose == Channel.Purpose.SMS:
            return "(subscribers' own)"
        return ", ".join(obj.topic_labels)

    @admin.display(description="Health")
    def health(self, obj):
        if obj.consecutive_failures == 0:
            if obj.last_success_at is None:
                return "Not tried yet"
            return format_html("Healthy, last post {}", instant(obj.last_success_at))
        return format_html(
            "<strong>{}</strong>: {} failure(s) in a row, the last {}: {}",
            "Unhealthy" if not obj.healthy else "Failing",
            obj.consecutive_failures,
            instant(obj.last_failure_at),
            Truncator(obj.last_error).chars(120),
        )

    @admin.display(description="Inbound SMS address (replies such as STOP)")
    def inbound_address(self, obj):
        if obj.purpose != Channel.Purpose.SMS:
            return "—"
        path = reverse("sms-inbound", args=[obj.inbound_token])
        return format_html(
            "<code>{}{}</code><br>Set it as the gateway's webhook for incoming messages (POST; "
            "Twilio, Vonage, or JSON with <code>from</code> and <code>text</code>): a reply "
            "STOP unsubscribes its number.",
            messages_url(""),
            path,
        )

    @admin.display(description="Recent deliveries")
    def delivery_history(self, obj):
        return _recent_deliveries(obj, "All deliveries through this channel", via__id__exact=obj.pk)

    @admin.action(description="Send a test post to the selected channels", permissions=["change"])
    def send_test(self, request, queryset):
        count = channels.channel_test(queryset)
        if count:
            self.message_user(
                request, f"{count} test post(s) queued; the outbox shows how each went.",
                messages.SUCCESS,
            )  # fmt: skip
        if queryset.filter(purpose=Channel.Purpose.SMS).exists():
            self.message_user(
                request,
                "An SMS gateway has nobody of its own to text: test it by subscribing your own "
                "mobile number on the public subscribe page (the code it texts is the test).",
                messages.WARNING,
            )


@admin.register(Delivery)
class DeliveryAdmin(DeskTimeMixin, admin.ModelAdmin):
    """The outbox. Dead deliveries can be retried; nothing here is edited by hand. Channels
    that keep failing are named above the list."""

    list_display = [
        "created_at",
        "kind",
        "channel",
        "address",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "error",
    ]
    list_filter = ["status", "channel", "message__kind", "via"]
    search_fields = ["address", "=uuid", "message__subject"]
    list_select_related = ["message"]
    date_hierarchy = "created_at"
    actions = ["retry"]
    readonly_fields = [
        "uuid",
        "message",
        "channel",
        "address",
        "subscriber",
        "contact",
        "via",
        "status",
        "attempts",
        "next_attempt_at",
        "queued_at",
        "lease_until",
        "delivered_at",
        "last_error",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "unhealthy": list(channels.unhealthy())}
        return super().changelist_view(request, extra_context)

    @admin.display(description="Last error")
    def error(self, obj):
        return Truncator(obj.last_error).chars(80)

    @admin.display(description="Kind", ordering="message__kind")
    def kind(self, obj):
        return obj.message.get_kind_display()

    @admin.action(description="Retry the selected deliveries now", permissions=["change"])
    def retry(self, request, queryset):
        count = outbox.delivery_retry(ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)


@admin.register(Message)
class MessageAdmin(DeskTimeMixin, admin.ModelAdmin):
    list_display = ["created_at", "kind", "subject", "delivered", "pending", "dead"]
    list_filter = ["kind"]
    search_fields = ["subject", "key"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Message._meta.fields]

    def get_queryset(self, request):
        counts = {
            status: Count("deliveries", filter=Q(deliveries__status=status))
            for status in ("delivered", "pending", "dead")
        }
        return super().get_queryset(request).annotate(**counts)

    @admin.display(ordering="delivered")
    def delivered(self, obj):
        return _deliveries_link(str(obj.delivered), message=obj.pk, status="delivered")

    @admin.display(ordering="pending")
    def pending(self, obj):
        return obj.pending

    @admin.display(ordering="dead")
    def dead(self, obj):
        return _deliveries_link(str(obj.dead), message=obj.pk, status="dead")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# The notice's page shows which key accounts were told and which acknowledged. Registered here,
# not in notes, because notes does not depend on notifications.
admin.site.unregister(AdvanceNotice)


@admin.register(AdvanceNotice)
class NoticeWithAcknowledgementsAdmin(AdvanceNoticeAdmin):
    readonly_fields = [*AdvanceNoticeAdmin.readonly_fields, "key_accounts"]
    fieldsets = [*AdvanceNoticeAdmin.fieldsets, ("Key accounts", {"fields": ["key_accounts"]})]

    @admin.display(description="Key accounts")
    def key_accounts(self, obj):
        if obj.pk is None or obj.status == AdvanceNotice.Status.DRAFT:
            return "Key-account contacts are e-mailed when the notice is published."
        return render_to_string(
            "notifications/admin_acknowledgements.html",
            {"accounts": acknowledgements.acknowledgement_status(obj), "notice": obj},
        )
