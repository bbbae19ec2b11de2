from rest_framework import serializers

from approvals.models import ApprovalDecision, ApprovalRequest
from lib import text
from releases.serializers import AwareDateTimeField, ReleaseItemSerializer


class DecisionSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = ApprovalDecision
        fields = ["approver", "verdict", "comment", "at"]


class ApprovalRequestSerializer(serializers.ModelSerializer):
    requester = serializers.CharField(source="requester.username", read_only=True)
    component = serializers.CharField(source="release.component.slug", read_only=True)
    version = serializers.CharField(source="release.version", read_only=True)
    items = ReleaseItemSerializer(source="release.items", many=True, read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)
    slot_start = AwareDateTimeField()
    slot_end = AwareDateTimeField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "release",
            "component",
            "version",
            "items",
            "requester",
            "urgency",
            "justification",
            "slot_start",
            "slot_end",
            "waives_notice",
            "status",
            "created_at",
            "decided_at",
            "decisions",
        ]
        read_only_fields = ["release", "status", "created_at", "decided_at"]


class DecideSerializer(serializers.Serializer):
    comment = serializers.CharField(
        required=False, allow_blank=True, max_length=4000, validators=[text.multi_line]
    )


class RejectSerializer(serializers.Serializer):
    comment = serializers.CharField(
        max_length=4000, validators=[text.multi_line], help_text="Why: required to reject."
    )
