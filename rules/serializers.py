from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lib import text
from releases.serializers import FreezeSerializer, WindowPolicySerializer
from rules.models import RuleChange, RuleDecision
from rules.services import JUSTIFICATION_LIMIT


class RuleDecisionSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = RuleDecision
        fields = ["approver", "verdict", "comment", "at"]


class StrandedSerializer(serializers.Serializer):
    release = serializers.IntegerField()
    component = serializers.CharField()
    version = serializers.CharField()
    scheduled_start = serializers.DateTimeField()
    owner = serializers.CharField()


class SlotSerializer(serializers.Serializer):
    request = serializers.IntegerField()
    release = serializers.IntegerField()
    component = serializers.CharField()
    version = serializers.CharField()
    slot_start = serializers.DateTimeField()
    slot_end = serializers.DateTimeField()


class HoursSerializer(serializers.Serializer):
    before = serializers.FloatField()
    after = serializers.FloatField()


class PreviewSerializer(serializers.Serializer):
    """What the change does over the next 90 days, by the window engine."""

    start = serializers.DateTimeField(source="from")
    until = serializers.DateTimeField()
    window_hours = serializers.DictField(
        child=HoursSerializer(), help_text="Per component whose window time changes."
    )
    hours_added = serializers.FloatField()
    hours_removed = serializers.FloatField()
    stranded = StrandedSerializer(many=True, help_text="Scheduled releases left outside.")
    fits_again = StrandedSerializer(
        many=True,
        default=list,  # previews stored before it was worked out have none
        help_text="Releases stranded earlier that it puts back inside a window (unflagged).",
    )
    overlapping_slots = SlotSerializer(
        many=True, help_text="Approved exceptional slots a freeze would newly cover."
    )


class RuleChangeSerializer(serializers.ModelSerializer):
    proposer = serializers.CharField(source="proposer.username")
    decisions = RuleDecisionSerializer(many=True)
    preview = PreviewSerializer()
    payload = serializers.JSONField(help_text="The rule as it would be (empty for a deletion).")
    base = serializers.JSONField(help_text="The rule as it was when proposed (null: new).")

    class Meta:
        model = RuleChange
        fields = [
            "id",
            "target",
            "operation",
            "target_id",
            "label",
            "status",
            "tightening",
            "reason",
            "proposer",
            "created_at",
            "decided_at",
            "payload",
            "base",
            "preview",
            "decisions",
        ]


class Justification(serializers.Serializer):
    """Why the rules should change: part of every write, and a removal's only field."""

    justification = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=JUSTIFICATION_LIMIT,
        validators=[text.multi_line],
        help_text="Why the rules should change (shown to senior management).",
    )


class _WithChange(serializers.Serializer):
    rule_change = serializers.SerializerMethodField(
        help_text="The change that put this version in force, with its preview."
    )

    @extend_schema_field(RuleChangeSerializer(allow_null=True))
    def get_rule_change(self, obj):
        change = self.context.get("rule_change")
        return RuleChangeSerializer(change).data if change is not None else None


class PolicyWriteSerializer(_WithChange, Justification, WindowPolicySerializer):
    class Meta(WindowPolicySerializer.Meta):
        fields = [*WindowPolicySerializer.Meta.fields, "justification", "rule_change"]


class FreezeWriteSerializer(_WithChange, Justification, FreezeSerializer):
    class Meta(FreezeSerializer.Meta):
        fields = [*FreezeSerializer.Meta.fields, "justification", "rule_change"]
