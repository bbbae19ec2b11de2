"""The gate: "may this component (or this release) ship at this instant?", parsed and answered
in one place. Every pipeline asks before every deploy, so this path is plain Python over the
query string (no serializer machinery) and costs one query; ``PARAMETERS`` documents it."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter

from lib.errors import Invalid
from releases import guards, selectors, services
from releases.models import MAX_RELEASE_MINUTES, Release
from releases.serializers import decision_json, decision_payload, parse_instant, shown, to_json
from releases.windows import between

PARAMETERS = [
    OpenApiParameter(
        "component", str, description="The component's slug. Required unless `release` is given."
    ),
    OpenApiParameter("at", str, description="ISO 8601 with an offset. Defaults to now."),
    OpenApiParameter("release", int, description="Ask about this release: may it start at `at`?"),
    OpenApiParameter(
        "duration",
        {"type": "integer", "minimum": 1, "maximum": MAX_RELEASE_MINUTES},
        description=f"Minutes the deploy takes (1 to {MAX_RELEASE_MINUTES}): allowed only if the "
        "window stays open until it finishes. Not with `release`, which has its own expected "
        "duration.",
    ),
]
# Anything else is refused, not ignored: a misspelt `at` would otherwise be answered for now.
KNOWN = tuple(parameter.name for parameter in PARAMETERS)


def ask(params, *, team: bool, now: dt.datetime | None = None) -> dict:
    """The gate's answer to a query string, or ``Invalid`` naming each bad parameter.

    ``team``: the asker is on the release team, who may ask about any release and learn which
    approval authorized it; anyone else asks only about releases the public may already see.
    """
    release, slug, at, duration, calendar = _question(params, team=team, now=now)
    if release is None:
        return decision_payload(calendar.decide_now(at, slug, duration=duration))
    return _release_payload(release, at, calendar, team=team)


def ask_json(params, *, team: bool, now: dt.datetime | None = None) -> str:
    """``ask``, rendered as the API renders it (the fast path's body)."""
    release, slug, at, duration, calendar = _question(params, team=team, now=now)
    if release is None:
        return decision_json(calendar.decide_now(at, slug, duration=duration))
    return to_json(_release_payload(release, at, calendar, team=team))


def _question(params, *, team: bool, now: dt.datetime | None):
    """The release (or None), the component, the instant, the duration and the calendar asked
    about."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    for name in [name for name in params if name not in KNOWN][:5]:
        errors[shown(name)] = f"The gate takes no such parameter; it takes {', '.join(KNOWN)}."
    release = None
    if raw_release := params.get("release"):
        release = _release(raw_release, errors, public_only=not team, now=now)
    slug = params.get("component", "") or (release.component.slug if release else "")
    if not slug and "release" not in errors:  # a bad release is the question's one fault
        errors["component"] = "This field is required."
    elif release is not None and slug != release.component.slug:
        errors["component"] = f"Release {release.pk} is of '{release.component.slug}'."
    at = now
    if raw_at := params.get("at"):
        try:
            at = parse_instant(raw_at)
        except ValueError as exc:
            errors["at"] = str(exc)
    duration = dt.timedelta(0)
    if raw_duration := params.get("duration"):
        if release is not None:
            errors["duration"] = "A release has its own expected duration: give one or the other."
        elif not (
            raw_duration.isascii()
            and raw_duration.isdigit()
            and len(raw_duration) <= 6
            and 1 <= int(raw_duration) <= MAX_RELEASE_MINUTES
        ):
            errors["duration"] = (
                f"'{shown(raw_duration)}' is not a duration: give whole minutes, "
                f"1 to {MAX_RELEASE_MINUTES}."
            )
        else:
            duration = dt.timedelta(minutes=int(raw_duration))
    calendar, exists = selectors.window_calendar_for(slug) if slug else (None, False)
    if slug and not exists:
        errors["component"] = f"Unknown component '{slug}'."
    if errors:
        raise Invalid(errors)
    return release, slug, at, duration, calendar


def _release_payload(release: Release, at: dt.datetime, calendar, *, team: bool) -> dict:
    payload = release_answer(release, at, calendar)
    if not team:
        payload["authorization"] = None  # which approval let it through is the team's
    return payload


def _release(raw: str, errors: dict, *, public_only: bool, now: dt.datetime) -> Release | None:
    """The release asked about; without the release team's key, only one the public may see
    (anything else is 'unknown', whether or not it exists: ids are sequential)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        errors["release"] = f"'{raw}' is not a release id."
        return None
    releases = Release.objects.select_related("component")
    if public_only:
        releases = releases.public(at=now)
    release = releases.filter(pk=int(raw)).first()
    if release is None:
        errors["release"] = f"Unknown release {raw}."
    return release


def release_answer(release: Release, at: dt.datetime, calendar) -> dict:
    """For one release: the window facts plus every start guard's verdict, all reasons."""
    facts = services.release_facts(release, at=at)
    refused = guards.refusals("start", facts, at, calendar)
    payload = decision_payload(calendar.decide(at, release.component.slug, duration=facts.duration))
    payload["release"] = release.pk
    payload["reasons"] = [r.as_dict() for r in refused]
    payload["authorization"] = None
    if refused:
        payload.update(
            decision="deny", reason=refused[0].code, detail=" ".join(r.detail for r in refused)
        )
    elif release.kind == Release.Kind.EXCEPTIONAL:
        auth = facts.authorization
        payload.update(
            decision="allow",
            reason="exception_approved",
            authorization=str(auth.id),
            detail=f"Exceptional release authorized ({auth.id}) for "
            f"{between(auth.slot_start, auth.slot_end)}.",
        )
    return payload
