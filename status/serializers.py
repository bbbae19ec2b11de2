"""The status API's shapes; webhooks of the "status" topic carry the same ones."""

from __future__ import annotations

from rest_framework import serializers

from notes.rendering import render_markdown
from releases.models import Component
from releases.serializers import AwareDateTimeField
from status.models import Incident, IncidentUpdate, Level
from status.models.incidents import IMPACTS, OPEN_STATES


class IncidentUpdateSerializer(serializers.ModelSerializer):
    body_html = serializers.SerializerMethodField()
    rollback = serializers.SerializerMethodField()

    class Meta:
        model = IncidentUpdate
        fields = ["id", "at", "state", "impact", "body", "body_html", "next_update_by", "rollback"]

    def get_body_html(self, update) -> str:
        return str(render_markdown(update.body))

    def get_rollback(self, update) -> dict | None:
        release = update.rollback
        if release is None:
            return None
        return {"component": release.component.slug, "version": release.version}


class IncidentSerializer(serializers.ModelSerializer):
    """An incident as customers read it: no owner, no internal flags."""

    components = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    duration_minutes = serializers.SerializerMethodField()
    worst_impact = serializers.ChoiceField(
        choices=IMPACTS, read_only=True, help_text="The worst impact it reached."
    )
    url = serializers.SerializerMethodField()
    updates = IncidentUpdateSerializer(many=True, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id", "title", "impact", "worst_impact", "state", "components", "started_at",
            "resolved_at", "duration_minutes", "next_update_by", "postmortem_url", "url",
            "updates",
        ]  # fmt: skip

    def get_duration_minutes(self, incident) -> int | None:
        duration = incident.duration
        return None if duration is None else int(duration.total_seconds() // 60)

    def get_url(self, incident) -> str:
        from django.conf import settings
        from django.urls import reverse

        return settings.SITE_URL + reverse("incident-detail", args=[incident.pk])


class IncidentWriteSerializer(serializers.Serializer):
    """Open an incident."""

    title = serializers.CharField(max_length=200)
    impact = serializers.ChoiceField(choices=IMPACTS)
    components = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Component.objects.all()
    )
    body = serializers.CharField(max_length=20_000, help_text="Markdown: what is known.")
    state = serializers.ChoiceField(choices=OPEN_STATES, default="investigating")
    next_update_by = AwareDateTimeField(required=False, allow_null=True)
    public = serializers.BooleanField(default=True)


class UpdateWriteSerializer(serializers.Serializer):
    """Post an update; state and impact are optional (unchanged when left out)."""

    body = serializers.CharField(max_length=20_000)
    state = serializers.ChoiceField(choices=OPEN_STATES, required=False)
    impact = serializers.ChoiceField(choices=IMPACTS, required=False)
    next_update_by = AwareDateTimeField(required=False, allow_null=True)


class ResolveSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=20_000, required=False, allow_blank=True)
    postmortem_url = serializers.URLField(max_length=500, required=False, allow_blank=True)


class IncidentRollbackSerializer(serializers.Serializer):
    release = serializers.IntegerField(min_value=1, max_value=2**62)
    reason = serializers.CharField(max_length=20_000)


class ComponentStatusSerializer(serializers.Serializer):
    component = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Level.choices)
    incidents = serializers.ListField(child=serializers.IntegerField())
