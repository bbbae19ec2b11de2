"""The audit log over the API: GET /api/v1/audit/, for senior management and auditors only."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, permissions, serializers

from audit import services
from audit.models import Entry


class InstantFormField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            return services.parse_instant(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@extend_schema_field(OpenApiTypes.DATETIME)
class InstantFilter(django_filters.Filter):
    field_class = InstantFormField


class EntryFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        field_name="actor_username", help_text="The actor's user name (as it was then)."
    )
    subject_type = django_filters.CharFilter(help_text="e.g. `releases.releaseevent`.")
    subject_id = django_filters.CharFilter(help_text="The subject's id (with `subject_type`).")
    action = django_filters.CharFilter(help_text="e.g. `release.start`, `api_key.revoked`.")
    since = InstantFilter(
        field_name="at", lookup_expr="gte", help_text="Entries at or after this instant."
    )
    until = InstantFilter(
        field_name="at", lookup_expr="lt", help_text="Entries before this instant."
    )

    class Meta:
        model = Entry
        fields = ["actor", "subject_type", "subject_id", "action", "since", "until"]


class EntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor_username", help_text="User name then; empty for Nightshift's own work."
    )
    before = serializers.JSONField(allow_null=True, help_text="The changed fields, before.")
    after = serializers.JSONField(allow_null=True, help_text="The changed fields, after.")

    class Meta:
        model = Entry
        fields = [
            "seq", "at", "actor_id", "actor", "action", "subject_type", "subject_id",
            "before", "after", "digest", "prev_hash", "hash", "mac",
        ]  # fmt: skip
        read_only_fields = fields


class AuditReaders(permissions.BasePermission):
    """Senior management and auditors (accounts plugs the roles into audit.may_read)."""

    message = "The audit log is for senior management and auditors."

    def has_permission(self, request, view):
        return services.may_read(request.user)


@extend_schema(
    summary="The audit log",
    description=(
        "Every governed fact, in chain order (`seq`): who did what to which subject, when, what "
        "changed, and the hash chain (`prev_hash`, `hash`; SHA-256 over the entry's canonical "
        "JSON) that `manage.py audit verify` checks. Senior management and auditors only."
    ),
)
class EntryList(generics.ListAPIView):
    queryset = Entry.objects.all()
    serializer_class = EntrySerializer
    permission_classes = [AuditReaders]
    filterset_class = EntryFilter
    ordering_fields = ["seq", "at"]
    ordering = ["seq"]
