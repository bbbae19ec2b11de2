from django.contrib import admin, messages
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.desk import DeskTimeMixin
from notes.admin import AdvanceNoticeAdmin
from notes.models import AdvanceNotice
from notifications import acknowledgements, outbox, subscriptions
from notifications.models import Contact, CustomerAccount, Delivery, Message, Subscriber


def _deliveries_link(text: str, **filters) -> str:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return format_html(
        '<a href="{}?{}">{}</a>', reverse("admin:notifications_delivery_changelist"), query, text
    )


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
    search_fields = ["email", "url"]
    # The signing secret is shown once, to whoever subscribed or rotated it: never listed here.
    fields = [
        "channel",
        "email",
        "url",
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
        return ", ".join(obj.topics)

    @admin.display(description="Deliveries")
    def delivery_history(self, obj):
        recent = obj.deliveries.select_related("message").order_by("-created_at", "-id")[:20]
        table = render_to_string("notifications/admin_deliveries.html", {"deliveries": recent})
        return format_html(
            "{}{}", table, _deliveries_link("All deliveries to this subscriber", subscriber=obj.pk)
        )

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


@admin.register(Delivery)
class DeliveryAdmin(DeskTimeMixin, admin.ModelAdmin):
    """The outbox. Dead deliveries can be retried; nothing here is edited by hand."""

    list_display = [
        "created_at",
        "kind",
        "channel",
        "address",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = ["status", "channel", "message__kind"]
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
