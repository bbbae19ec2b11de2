from __future__ import annotations

import copy
import datetime as dt
import json
import re

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lib import text
from releases import timeline
from releases.models import (
    RECURRENCE_FIELDS,
    Component,
    Freeze,
    Release,
    ReleaseEvent,
    ReleaseItem,
    Rollback,
    WindowPolicy,
    scope_errors,
)
from releases.windows import iso_utc, range_error

# A "+" in a query string arrives as a space: "...T08:00:00 00:00" meant "+00:00".
_SPACE_FOR_PLUS = re.compile(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$")


def shown(value, limit: int = 40) -> str:
    """A client's value as an error message quotes it: short, whatever was sent."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_instant(value: str) -> dt.datetime:
    """An ISO 8601 instant with its offset, within the supported range, in UTC; ValueError with
    a sentence otherwise."""
    text = _SPACE_FOR_PLUS.sub(r"\1+\2", str(value).strip())
    try:
        parsed = parse_datetime(text) if len(text) <= 64 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(
            f"'{shown(value)}' is not an ISO 8601 date-time, e.g. 2026-11-26T08:00:00Z."
        )
    if parsed.tzinfo is None:
        raise ValueError(
            f"'{shown(value)}' has no UTC offset; add one, e.g. 2026-11-26T08:00:00-08:00 or …Z."
        )
    try:
        parsed = parsed.astimezone(dt.UTC)
    except OverflowError:
        parsed = parsed.replace(tzinfo=None)  # beyond datetime itself: out of range anyway
    if error := range_error(parsed):
        raise ValueError(error)
    return parsed


class AwareDateTimeFormField(forms.Field):
    """The same rule for query-string filters (django-filter uses Django forms)."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            return parse_instant(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 instant that must carry its offset; a naive one is refused, not guessed."""

    def to_internal_value(self, value):
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise serializers.ValidationError(
                    f"'{value.isoformat()}' has no UTC offset; add one."
                )
            value = value.isoformat()
        try:
            return parse_instant(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


_WALL_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


@extend_schema_field(
    {
        "type": "string",
        "pattern": _WALL_CLOCK.pattern,
        "example": "00:00",
        "description": "Wall-clock time (HH:MM or HH:MM:SS) in the policy's zone; no offset.",
    }
)
class WallClockField(serializers.TimeField):
    """A local time of day: the zone is the policy's, so an offset here would contradict it."""

    def to_internal_value(self, value):
        if isinstance(value, str) and not _WALL_CLOCK.match(value.strip()):
            raise serializers.ValidationError(
                f"'{shown(value)}' is not a wall-clock time: give HH:MM or HH:MM:SS, without an "
                "offset (the zone field says where)."
            )
        return super().to_internal_value(value)


class ComponentSlugField(serializers.SlugRelatedField):
    default_error_messages = {
        "does_not_exist": "Unknown component '{value}'.",
        "invalid": "A component is given by its slug.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "slug")
        kwargs.setdefault("queryset", Component.objects.all())
        super().__init__(**kwargs)


class ComponentSerializer(serializers.ModelSerializer):
    current_version = serializers.CharField(
        read_only=True,
        allow_null=True,
        default=None,
        help_text="The version of its latest live (released or verified) release.",
    )

    class Meta:
        model = Component
        fields = ["slug", "name", "kind", "current_version"]


class ModelCleanMixin:
    """Runs the model's own clean() (the engine's validation) on a copy; nothing is saved."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        data = {k: v for k, v in attrs.items() if k != "components"}
        candidate = copy.copy(self.instance) if self.instance else self.Meta.model()
        for name, value in data.items():
            setattr(candidate, name, value)
        errors = {}
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            errors.update(exc.message_dict)
        if "components" in attrs:
            components = attrs["components"]
        elif self.instance:
            components = list(self.instance.components.all())
        else:
            components = []
        errors.update(scope_errors(candidate.applies_to_all, components))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class WindowPolicySerializer(ModelCleanMixin, serializers.ModelSerializer):
    components = ComponentSlugField(many=True, required=False)
    start_time = WallClockField()

    class Meta:
        model = WindowPolicy
        fields = [
            "id",
            "name",
            *RECURRENCE_FIELDS,
            "applies_to_all",
            "components",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]


class FreezeSerializer(ModelCleanMixin, serializers.ModelSerializer):
    components = ComponentSlugField(many=True, required=False)
    starts_at = AwareDateTimeField(required=False, allow_null=True)
    ends_at = AwareDateTimeField(required=False, allow_null=True, help_text="Null: until lifted.")
    start_time = WallClockField(required=False, allow_null=True)

    class Meta:
        model = Freeze
        fields = [
            "id",
            "reason",
            "starts_at",
            "ends_at",
            *RECURRENCE_FIELDS,
            "applies_to_all",
            "components",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]


MAX_RANGE = dt.timedelta(days=366)


class WindowsQuerySerializer(serializers.Serializer):
    component = ComponentSlugField()
    start = AwareDateTimeField()
    end = AwareDateTimeField()

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "The end must be after the start."})
        if attrs["end"] - attrs["start"] > MAX_RANGE:
            raise serializers.ValidationError(
                {"end": "The range may span at most 366 days; ask for several ranges."}
            )
        return attrs


class IntervalSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class WindowSerializer(IntervalSerializer):
    policy = serializers.SerializerMethodField(help_text="The id of the first policy in it.")
    policies = serializers.ListField(child=serializers.IntegerField())

    def get_policy(self, window) -> int:
        return window.policies[0]


class TraceEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["policy", "freeze", "hold"])
    id = serializers.IntegerField(help_text="The policy's, freeze's or hold's id.")
    name = serializers.CharField()
    verdict = serializers.ChoiceField(
        choices=["open", "closed", "frozen", "clear", "out_of_scope", "held"]
    )
    detail = serializers.CharField()
    occurrence = IntervalSerializer(allow_null=True)
    version = serializers.IntegerField(
        allow_null=True, help_text="The version of the rule the verdict was reached by."
    )


class DecisionSerializer(serializers.Serializer):
    decision = serializers.SerializerMethodField()
    reason = serializers.CharField()
    detail = serializers.CharField()
    at = serializers.DateTimeField()
    component = serializers.CharField()
    window = IntervalSerializer(allow_null=True)
    next_window = IntervalSerializer(allow_null=True)
    trace = TraceEntrySerializer(many=True)

    def get_decision(self, decision) -> str:
        return "allow" if decision.allowed else "deny"


def _interval(value) -> dict | None:
    return None if value is None else {"start": iso_utc(value.start), "end": iso_utc(value.end)}


def decision_payload(decision) -> dict:
    """What DecisionSerializer renders, built directly (the gate's hot path; a test pins both)."""
    return {
        "decision": "allow" if decision.allowed else "deny",
        "reason": decision.reason,
        "detail": decision.detail,
        "at": iso_utc(decision.at),
        "component": decision.component,
        "window": _interval(decision.window),
        "next_window": _interval(decision.next_window),
        "trace": _trace(decision.trace),
    }


def _trace(trace) -> list[dict]:
    return [
        {
            "kind": t.kind,
            "id": t.id,
            "name": t.name,
            "verdict": t.verdict,
            "detail": t.detail,
            "occurrence": _interval(t.occurrence),
            "version": t.version,
        }
        for t in trace
    ]


def to_json(value) -> str:
    """JSON as the API renders it (DRF's JSONRenderer: compact, not ASCII-escaped, with the two
    line separators JavaScript reads as line ends escaped, since a freeze's reason may hold
    them)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# Per process: id -> (the object, its JSON). A remembered decision (WindowCalendar.decide)
# shares its trace and windows with every answer from its span, so they render once.
_rendered: dict[int, tuple[object, str]] = {}
MOST_RENDERED = 4096


def _rendered_once(value, render) -> str:
    found = _rendered.get(id(value))
    if found is not None and found[0] is value:  # the object itself: ids are reused
        return found[1]
    text = to_json(render(value))
    if len(_rendered) >= MOST_RENDERED:
        _rendered.clear()
    _rendered[id(value)] = (value, text)
    return text


def decision_json(decision) -> str:
    """``to_json(decision_payload(decision))``, the gate's hot path: only what changes from one
    instant to the next (the instant, the sentence) is rendered at each call."""
    window = "null" if decision.window is None else _rendered_once(decision.window, _interval)
    upcoming = decision.next_window
    return (
        f'{{"decision":"{"allow" if decision.allowed else "deny"}"'
        f',"reason":{to_json(decision.reason)},"detail":{to_json(decision.detail)}'
        f',"at":"{iso_utc(decision.at)}","component":{to_json(decision.component)}'
        f',"window":{window}'
        f',"next_window":{"null" if upcoming is None else _rendered_once(upcoming, _interval)}'
        f',"trace":{_rendered_once(decision.trace, _trace)}}}'
    )


# --- Releases --------------------------------------------------------------------------------


class ReleaseItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReleaseItem
        fields = [
            "id",
            "release",
            "title",
            "description",
            "type",
            "breaking",
            "public",
            "planned",
            "shipped",
        ]
        read_only_fields = ["release"]


class NewReleaseItemSerializer(ReleaseItemSerializer):
    """An item added to an existing release (POST /api/v1/items/)."""

    release = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())

    class Meta(ReleaseItemSerializer.Meta):
        read_only_fields = []


class NewItemSerializer(serializers.ModelSerializer):
    """An item given with a new release."""

    class Meta:
        model = ReleaseItem
        fields = ["title", "description", "type", "breaking", "public"]


class RollbackSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username")
    restored_version = serializers.CharField(source="restored.version", default=None)

    class Meta:
        model = Rollback
        fields = ["reason", "by", "at", "restored_version"]


class UsernameField(serializers.SlugRelatedField):
    default_error_messages = {"does_not_exist": "No user called '{value}'."}

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        kwargs.setdefault("queryset", get_user_model().objects.all())
        super().__init__(**kwargs)


ITEM_FIELDS = ["id", "release", "title", "description", "type", "breaking", "public", "planned",
               "shipped"]  # fmt: skip


def release_payloads(releases: list[Release]) -> list[dict]:
    """What ReleaseSerializer renders for each of ``releases`` (from
    ``Release.objects.for_payload()``), built directly: a list page holds fifty releases with
    their items, and building model instances for their relations (the prefetches) and the
    serializer's per-field machinery were most of its time. One query for the items and, when
    the page holds a rolled-back release, one for its rollback. Instants are ``iso_utc``, which
    is what DRF renders while the API's zone is UTC. A test pins the output to the
    serializer's, byte for byte."""
    ids = [release.pk for release in releases]
    items: dict[int, list[dict]] = {pk: [] for pk in ids}
    rows = ReleaseItem.objects.filter(release_id__in=ids).order_by("id")
    for row in rows.values_list(*(f"{n}_id" if n == "release" else n for n in ITEM_FIELDS)):
        items[row[1]].append(dict(zip(ITEM_FIELDS, row, strict=True)))
    rollbacks = {}
    if rolled_back := [r.pk for r in releases if r.state == Release.State.ROLLED_BACK]:
        rows = Rollback.objects.filter(release_id__in=rolled_back).values_list(
            "release_id", "reason", "by__username", "at", "restored__version"
        )
        rollbacks = {
            pk: {"reason": reason, "by": by, "at": iso_utc(at), "restored_version": restored}
            for pk, reason, by, at, restored in rows
        }
    return [
        {
            "id": release.pk,
            "component": release.component_slug,
            "version": release.version,
            "title": release.title,
            "kind": release.kind,
            "impact": release.impact,
            "scheduled_start": iso_utc(release.scheduled_start),
            "expected_duration_minutes": release.expected_duration_minutes,
            "expected_end": iso_utc(release.expected_end),
            "state": release.state,
            "owner": release.owner_username,
            "notes": release.notes,
            "items": items[release.pk],
            "rollback": rollbacks.get(release.pk),
            "stranded_at": iso_utc(release.stranded_at),
            "started_at": iso_utc(release.started_at),
            "completed_at": iso_utc(release.completed_at),
            "created_at": iso_utc(release.created_at),
            "updated_at": iso_utc(release.updated_at),
        }
        for release in releases
    ]


class ReleaseSerializer(serializers.ModelSerializer):
    component = ComponentSlugField()
    owner = UsernameField(required=False, help_text="A release engineer; defaults to you.")
    scheduled_start = AwareDateTimeField()
    expected_duration_minutes = serializers.IntegerField(
        min_value=1, max_value=7 * 24 * 60, required=False, help_text="Default 60."
    )
    items = ReleaseItemSerializer(many=True, read_only=True)
    rollback = RollbackSerializer(read_only=True, allow_null=True)
    expected_end = serializers.DateTimeField(read_only=True)

    class Meta:
        model = Release
        fields = [
            "id",
            "component",
            "version",
            "title",
            "kind",
            "impact",
            "scheduled_start",
            "expected_duration_minutes",
            "expected_end",
            "state",
            "owner",
            "notes",
            "items",
            "rollback",
            "stranded_at",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "state",
            "stranded_at",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        # Uniqueness is the service's to check, under the same transaction as the write.
        validators = []

    def validate_version(self, value):
        value = value.strip()
        if not value:
            raise serializers.ValidationError("A version is required.")
        return value

    def validate(self, attrs):
        if self.instance is not None and "items" in self.initial_data:
            raise serializers.ValidationError(
                {"items": "Change items through /api/v1/items/, one at a time."}
            )
        if self.instance is not None and "component" in attrs:
            if attrs["component"] != self.instance.component:
                raise serializers.ValidationError(
                    {"component": "A release cannot move to another component."}
                )
            attrs.pop("component")
        return attrs


class ReleaseCreateSerializer(ReleaseSerializer):
    """Scheduling a release: the same fields, with its first items."""

    items = NewItemSerializer(many=True, required=False)


class TransitionSerializer(serializers.Serializer):
    """The body of a transition; only rollback needs one (its reason)."""

    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, validators=[text.multi_line]
    )
    shipped = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="complete: ids of the items that shipped; default all.",
    )


class ReleaseEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)
    summary = serializers.SerializerMethodField(help_text="The event in one sentence.")

    class Meta:
        model = ReleaseEvent
        fields = ["id", "at", "actor", "action", "summary", "from_state", "to_state", "details"]

    def get_summary(self, event) -> str:
        return timeline.describe(event)


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class ReleaseDecisionSerializer(DecisionSerializer):
    """The gate's answer; ``release``, ``reasons`` and ``authorization`` only when asked about
    a release (``release=``)."""

    release = serializers.IntegerField(required=False)
    reasons = ReasonSerializer(many=True, required=False)
    authorization = serializers.CharField(allow_null=True, required=False)
