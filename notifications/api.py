"""Channels over the API: the release team and Operations configure the accounts news is
posted to. The Apprise URL is write-only: it is never read back, only its masked form."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.pagination import Pagination
from notifications import channels
from notifications.models import Channel, Topic
from releases.serializers import AwareDateTimeField, ComponentSlugField


class ChannelPermission(permissions.DjangoModelPermissions):
    """The desk's own permissions: reading needs view_channel, writing add/change/delete."""

    message = "Channels are configured by the release team and Operations."
    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class ChannelSerializer(serializers.ModelSerializer):
    url = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=2000,
        trim_whitespace=True,
        help_text="The Apprise URL (required when creating; give it again to replace it). "
        "Never returned: `masked_url` shows it with its secrets hidden.",
    )
    topics = serializers.ListField(
        child=serializers.ChoiceField(choices=Topic.choices),
        required=False,
        help_text="What it posts (an SMS gateway ignores these: it texts subscribers).",
    )
    components = ComponentSlugField(
        many=True, required=False, help_text="Only these components; empty: every component."
    )
    healthy = serializers.BooleanField(read_only=True)
    last_success_at = AwareDateTimeField(read_only=True, allow_null=True)
    last_failure_at = AwareDateTimeField(read_only=True, allow_null=True)
    inbound_url = serializers.SerializerMethodField(
        help_text="An SMS gateway's address for replies such as STOP (POST); shown to those "
        "who may change channels."
    )

    class Meta:
        model = Channel
        fields = [
            "id", "name", "purpose", "url", "service", "masked_url", "body_limit", "form",
            "topics", "components", "all_components", "is_active", "healthy",
            "consecutive_failures", "last_success_at", "last_failure_at", "last_error",
            "inbound_url",
        ]  # fmt: skip
        read_only_fields = ["all_components"]

    def get_inbound_url(self, channel) -> str | None:
        from django.urls import reverse

        from notifications.messages import url

        request = self.context.get("request")
        may_change = request is not None and request.user.has_perm("notifications.change_channel")
        if channel.purpose != Channel.Purpose.SMS or not may_change:
            return None  # a credential: it stops numbers
        return url(reverse("sms-inbound", args=[channel.inbound_token]))

    def to_representation(self, channel):
        data = super().to_representation(channel)
        data["topics"] = channel.topics
        return data

    def save(self, **kwargs):
        data = dict(self.validated_data)
        channel = self.instance or Channel()
        for name in ("name", "purpose", "form", "is_active"):
            if name in data:
                setattr(channel, name, data[name])
        self.instance = channels.channel_save(
            channel,
            url=data.get("url", ""),
            topics=data.get("topics"),
            components=data.get("components"),
        )
        return self.instance


class ChannelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Where release and status news is posted (Mastodon, X, Slack, Teams, …) and the SMS
    gateway phone subscribers are texted through; each is one Apprise URL."""

    serializer_class = ChannelSerializer
    permission_classes = [ChannelPermission]
    pagination_class = Pagination
    queryset = Channel.objects.prefetch_related("components").order_by("name")
    filterset_fields = ["purpose", "is_active"]

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Queue a test post to this channel, through the outbox like any message."""
        queued = channels.channel_test([self.get_object()])
        if not queued:
            return Response(
                {"detail": "An SMS gateway has nobody to text a test to."},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_202_ACCEPTED)
