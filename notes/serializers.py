from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notes.models import AdvanceNotice
from notes.rendering import render_markdown
from releases.models import validate_in_range
from releases.serializers import AwareDateTimeField, ComponentSlugField
from releases.windows import iso_utc


class NotesQuerySerializer(serializers.Serializer):
    component = ComponentSlugField(required=False)
    type = serializers.ChoiceField(
        required=False, choices=["added", "changed", "deprecated", "removed", "fixed", "security"]
    )
    start = serializers.DateField(
        required=False,
        help_text="First Pacific date (inclusive).",
        validators=[validate_in_range],
    )
    end = serializers.DateField(
        required=False,
        help_text="Last Pacific date (inclusive).",
        validators=[validate_in_range],
    )

    page = serializers.IntegerField(required=False, min_value=1, help_text="From 1.")

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "The end date is before the start date."})
        if attrs.get("component"):
            attrs["component"] = attrs["component"].slug
        return attrs


class PublicItemSerializer(serializers.Serializer):
    title = serializers.CharField()
    type = serializers.CharField()
    breaking = serializers.BooleanField()
    description_html = serializers.SerializerMethodField()

    def get_description_html(self, item) -> str:
        return str(render_markdown(item.description))


class NoteSerializer(serializers.Serializer):
    """One public release as customers read it."""

    component = serializers.CharField(source="release.component.slug")
    version = serializers.CharField(source="release.version")
    title = serializers.CharField(source="release.title")
    state = serializers.CharField(source="release.state")
    scheduled_start = serializers.DateTimeField(source="release.scheduled_start")
    shipped = serializers.BooleanField(help_text="False: the items are still to be released.")
    breaking = serializers.BooleanField()
    items = serializers.SerializerMethodField()
    slipped = PublicItemSerializer(many=True)
    restored_version = serializers.SerializerMethodField()

    def get_items(self, note) -> list[dict]:
        return [
            {"type": g.type, "items": PublicItemSerializer(g.items, many=True).data}
            for g in note.groups
        ]

    def get_restored_version(self, note) -> str | None:
        rollback = getattr(note.release, "rollback", None)
        return rollback.restored.version if rollback and rollback.restored else None


class DaySerializer(serializers.Serializer):
    date = serializers.DateField(source="day")
    releases = NoteSerializer(source="notes", many=True)


class OutcomeSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=["shipped", "rolled_back", "withdrawn"])
    at = serializers.DateTimeField(allow_null=True)


class NoticeSerializer(serializers.ModelSerializer):
    release = serializers.PrimaryKeyRelatedField(read_only=True)
    component = serializers.CharField(source="release.component.slug", read_only=True)
    tentative_start = AwareDateTimeField(required=False, allow_null=True)
    action_deadline = AwareDateTimeField(required=False, allow_null=True)
    revisions = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField(
        help_text="What became of the release: shipped, rolled_back or withdrawn (null: not yet)."
    )

    class Meta:
        model = AdvanceNotice
        fields = [
            "id",
            "release",
            "component",
            "headline",
            "description",
            "tentative_start",
            "tentative_zone",
            "certainty",
            "nature",
            "action_required",
            "action_deadline",
            "benefits",
            "impact_level",
            "status",
            "revision",
            "published_at",
            "updated_at",
            "outcome",
            "revisions",
        ]
        read_only_fields = ["status", "revision", "published_at", "updated_at"]

    @extend_schema_field(OutcomeSerializer(allow_null=True))
    def get_outcome(self, notice) -> dict | None:
        outcome = notice.outcome
        if outcome is None:
            return None
        return {"code": outcome.code, "at": iso_utc(outcome.at)}

    def get_revisions(self, notice) -> list[dict]:
        return [
            {"number": r.number, "at": r.at, "changes": r.changes} for r in notice.revisions.all()
        ]


class NewNoticeSerializer(NoticeSerializer):
    release = serializers.IntegerField(help_text="The perceptible-impact release.")
