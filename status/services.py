"""Running incidents: open, update, resolve, answer with a rollback, chase late updates.

One function per state change, each one transaction: the incident, its timeline entry, the
audit entry and the messages (through the listeners: notifications plugs in; status never
imports it) are written together or not at all.

Every update may promise the next one ("next update by"). When the promise passes, the owner
is told; ``STATUS_ESCALATE_AFTER`` later, senior management too (``escalate_overdue``, run
every minute by the cluster). An open major outage holds the regular releases of its
components (``outage_holds``, plugged into releases): the fix goes as an authorized exceptional
release, and rollbacks are never held.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import services as audit
from lib import text
from lib.errors import Invalid, Refused
from releases import services as releases
from releases.models import Component, Release
from releases.windows import Hold, lasting, range_error, when
from status.models import Incident, IncidentUpdate, Level, SupportContacts

State = Incident.State
INCIDENT_OPEN = "incident_open"  # the gate's and the start guard's reason code


class IncidentInvalid(Invalid):
    """An incident cannot be written so."""


class IncidentRefused(Refused):
    """Not allowed now (a resolved incident, a role)."""


# Who hears of each step: ``listener(incident, update, what)`` in its transaction, with
# ``what`` one of "opened", "updated", "resolved", "overdue_owner", "overdue_management"
# (``update`` is None for the last two).
Listener = Callable[[Incident, IncidentUpdate | None, str], None]
_listeners: list[Listener] = []


def register_listener(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def _tell(incident: Incident, update: IncidentUpdate | None, what: str) -> None:
    for listener in _listeners:
        listener(incident, update, what)


def may_run_incidents(user) -> bool:
    """Release engineers and Operations open and update incidents."""
    return roles.is_release_engineer(user) or roles.is_operations(user)


def _require_role(user) -> None:
    if not may_run_incidents(user):
        raise IncidentRefused(
            "not_allowed", "Only release engineers and Operations run incidents.", status=403
        )


# --- Validation ------------------------------------------------------------------------------


def _check_title(title, errors: dict) -> str:
    title = (title or "").strip()
    if not title:
        errors["title"] = "Say what is wrong, in a line."
    elif len(title) > 200:
        errors["title"] = "At most 200 characters."
    else:
        _validate(text.single_line, title, "title", errors)
    return title


def _check_body(body, errors: dict, *, required: bool = True) -> str:
    body = (body or "").strip()
    if required and not body:
        errors["body"] = "Say what is known and what is being done."
    elif len(body) > 20_000:
        errors["body"] = "At most 20,000 characters."
    else:
        _validate(text.multi_line, body, "body", errors)
    return body


def _validate(validator, value, name: str, errors: dict) -> None:
    from django.core.exceptions import ValidationError

    try:
        validator(value)
    except ValidationError as exc:
        errors[name] = " ".join(exc.messages)


def _check_impact(impact, errors: dict) -> None:
    if impact is not None and (impact == Level.OPERATIONAL or impact not in Level.values):
        allowed = ", ".join(v for v in Level.values if v != Level.OPERATIONAL)
        errors["impact"] = f"'{impact}' is not an impact; one of: {allowed}."


def _check_state(state, errors: dict) -> None:
    if state is not None and (state not in State.values or state == State.RESOLVED):
        errors["state"] = (
            f"'{state}' is not an open state; one of: investigating, identified, monitoring "
            "(resolve to close it)."
        )


def _check_promise(next_update_by, at: dt.datetime, errors: dict) -> None:
    if next_update_by is None:
        return
    if problem := range_error(next_update_by):
        errors["next_update_by"] = problem
    elif next_update_by <= at:
        errors["next_update_by"] = f"Promise the next update for later than now ({when(at)})."
    elif next_update_by - at > dt.timedelta(days=7):
        errors["next_update_by"] = "Promise the next update within a week."


def _check_components(components, errors: dict) -> list[Component]:
    components = list(components or [])
    if not components:
        errors["components"] = "Name at least one affected component."
    return components


def _check_owner(owner, errors: dict):
    if owner is not None and not may_run_incidents(owner):
        errors["owner"] = f"{owner} is neither a release engineer nor in Operations."
    return owner


def open_errors(
    *, title, impact, components, body, state, next_update_by, owner, at
) -> dict[str, str]:
    """What is wrong with these values for a new incident (empty: nothing). Forms ask too."""
    errors: dict[str, str] = {}
    _check_title(title, errors)
    _check_body(body, errors)
    _check_impact(impact, errors)
    _check_state(state, errors)
    _check_promise(next_update_by, at, errors)
    _check_components(components, errors)
    _check_owner(owner, errors)
    return errors


def update_errors(*, body, state, impact, next_update_by, at) -> dict[str, str]:
    """What is wrong with these values for an update (empty: nothing). Forms ask too."""
    errors: dict[str, str] = {}
    _check_body(body, errors)
    _check_impact(impact, errors)
    _check_state(state, errors)
    _check_promise(next_update_by, at, errors)
    return errors


# --- The steps -------------------------------------------------------------------------------


def _holds_signature(incident: Incident) -> tuple:
    """What of an incident the release holds depend on."""
    if not (incident.pk and incident.is_open and incident.impact == Level.MAJOR):
        return ()
    return (incident.title, tuple(sorted(incident.components.values_list("pk", flat=True))))


def _record_update(incident, *, body, by, at, next_update_by=None, rollback=None, what="updated"):
    update = IncidentUpdate.objects.create(
        incident=incident,
        state=incident.state,
        impact=incident.impact,
        body=body,
        next_update_by=next_update_by,
        rollback=rollback,
        at=at,
        by=by,
    )
    audit.record(action=f"status.incident.{what}", subject=incident, actor=by, at=at)
    audit.record(action="status.update.created", subject=update, actor=by, at=at)
    return update


def incident_open(
    *,
    title: str,
    impact: str,
    components: Iterable[Component],
    body: str,
    by,
    owner=None,
    state: str = State.INVESTIGATING,
    next_update_by: dt.datetime | None = None,
    public: bool = True,
    automatic: bool = False,
    at: dt.datetime | None = None,
) -> Incident:
    """Open an incident and announce it at once (its first update says what is known)."""
    at = at or timezone.now()
    if not automatic:
        _require_role(by)
    components = list(components or [])
    errors = open_errors(
        title=title, impact=impact, components=components, body=body, state=state,
        next_update_by=next_update_by, owner=owner, at=at,
    )  # fmt: skip
    if errors:
        raise IncidentInvalid(errors)
    title, body, owner = title.strip(), body.strip(), owner or by
    with transaction.atomic():
        incident = Incident.objects.create(
            title=title,
            impact=impact,
            state=state,
            public=public,
            owner=owner,
            started_at=at,
            next_update_by=next_update_by,
            opened_automatically=automatic,
        )
        incident.components.set(components)
        update = _record_update(
            incident, body=body, by=by, at=at, next_update_by=next_update_by, what="opened"
        )
        if _holds_signature(incident):
            releases.rules_changed(at=at)
        _tell(incident, update, "opened")
    return incident


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def incident_update(
    *,
    incident: Incident,
    body: str,
    by,
    state: str | None = None,
    impact: str | None = None,
    next_update_by: dt.datetime | None = None,
    rollback: Release | None = None,
    at: dt.datetime | None = None,
) -> IncidentUpdate:
    """Post an update (and perhaps a new state or impact); it keeps or renews the promise."""
    asked_at = at
    at = at or timezone.now()
    _require_role(by)
    errors = update_errors(
        body=body, state=state, impact=impact, next_update_by=next_update_by, at=at
    )
    if errors:
        raise IncidentInvalid(errors)
    body = body.strip()
    with transaction.atomic():
        incident = _locked(incident)
        # Stamped once the lock is ours: never before an update that committed while we waited.
        at = asked_at or timezone.now()
        if not incident.is_open:
            raise IncidentRefused(
                "incident_resolved",
                f"Incident #{incident.pk} was resolved {when(incident.resolved_at)}; "
                "open a new incident if the trouble is back.",
            )
        before = _holds_signature(incident)
        incident.state = state or incident.state
        incident.impact = impact or incident.impact
        incident.next_update_by = next_update_by
        incident.escalation = Incident.Escalation.NONE
        incident.version += 1
        incident.save()
        update = _record_update(
            incident, body=body, by=by, at=at, next_update_by=next_update_by, rollback=rollback
        )
        if _holds_signature(incident) != before:
            releases.rules_changed(at=at)
        _tell(incident, update, "updated")
    return update


def back_to_normal(incident: Incident, resolved_at: dt.datetime) -> str:
    return (
        f"Back to normal: {incident.title} is resolved after "
        f"{lasting(resolved_at - incident.started_at)}."
    )


def incident_resolve(
    *,
    incident: Incident,
    by,
    body: str = "",
    postmortem_url: str = "",
    at: dt.datetime | None = None,
) -> IncidentUpdate:
    """Close it: "back to normal", said explicitly, with how long it lasted."""
    asked_at = at
    _require_role(by)
    errors: dict[str, str] = {}
    body = _check_body(body, errors, required=False)
    postmortem_url = _check_url(postmortem_url, errors)
    if errors:
        raise IncidentInvalid(errors)
    with transaction.atomic():
        incident = _locked(incident)
        at = asked_at or timezone.now()  # once the lock is ours (see incident_update)
        latest = incident.updates.order_by("-at").values_list("at", flat=True).first()
        if latest is not None and at < latest:
            raise IncidentInvalid(
                {"at": f"The last update is from {when(latest)}: resolve after it, not before."}
            )
        if not incident.is_open:
            raise IncidentRefused(
                "incident_resolved",
                f"Incident #{incident.pk} was already resolved {when(incident.resolved_at)}.",
            )
        if at < incident.started_at:
            raise IncidentInvalid({"at": "An incident cannot end before it started."})
        before = _holds_signature(incident)
        incident.state = State.RESOLVED
        incident.resolved_at = at
        incident.next_update_by = None
        incident.escalation = Incident.Escalation.NONE
        incident.postmortem_url = postmortem_url or incident.postmortem_url
        incident.version += 1
        incident.save()
        said = back_to_normal(incident, at)
        update = _record_update(
            incident, body=f"{said}\n\n{body}" if body else said, by=by, at=at, what="resolved"
        )
        if before:
            releases.rules_changed(at=at)
        _tell(incident, update, "resolved")
    return update


def _check_url(value, errors: dict) -> str:
    from django.core.validators import URLValidator

    value = (value or "").strip()
    if value:
        if len(value) > 500:
            errors["postmortem_url"] = "At most 500 characters."
        else:
            _validate(URLValidator(schemes=["http", "https"]), value, "postmortem_url", errors)
    return value


def incident_edit(
    *,
    incident: Incident,
    by,
    title: str | None = None,
    components: Iterable[Component] | None = None,
    at: dt.datetime | None = None,
) -> Incident:
    """Correct the title or the affected components (a typo, a component found affected later).

    Not a step customers are told of: the next update is. The audit log keeps what it was.
    """
    at = at or timezone.now()
    _require_role(by)
    errors: dict[str, str] = {}
    if title is not None:
        title = _check_title(title, errors)
    if components is not None:
        components = _check_components(components, errors)
    if errors:
        raise IncidentInvalid(errors)
    with transaction.atomic():
        incident = _locked(incident)
        was = {
            "title": incident.title,
            "components": sorted(incident.components.values_list("slug", flat=True)),
        }
        holds_before = _holds_signature(incident)
        if title is not None:
            incident.title = title
        incident.version += 1
        incident.save(update_fields=["title", "version"])
        if components is not None:
            incident.components.set(components)
        now_is = {
            "title": incident.title,
            "components": sorted(incident.components.values_list("slug", flat=True)),
        }
        audit.record(
            action="status.incident.edited", subject=incident, actor=by, at=at, before=was,
            after=now_is,
        )  # fmt: skip
        if _holds_signature(incident) != holds_before:
            releases.rules_changed(at=at)
    return incident


def incident_set_postmortem(*, incident: Incident, url: str, by, at=None) -> Incident:
    """Link the postmortem (usually written after the incident is resolved)."""
    at = at or timezone.now()
    _require_role(by)
    errors: dict[str, str] = {}
    url = _check_url(url, errors)
    if errors:
        raise IncidentInvalid(errors)
    with transaction.atomic():
        incident = _locked(incident)
        incident.postmortem_url = url
        incident.version += 1  # public pages show it: their validators must move
        incident.save(update_fields=["postmortem_url", "version"])
        audit.record(action="status.incident.postmortem", subject=incident, actor=by, at=at)
    return incident


def incident_rollback(
    *, incident: Incident, release: Release, reason: str, by, at: dt.datetime | None = None
) -> IncidentUpdate:
    """Roll a release back in answer to the incident, and say so on the incident's timeline."""
    at = at or timezone.now()
    _require_role(by)
    errors: dict[str, str] = {}
    reason = _check_body(reason, errors)
    if errors:
        raise IncidentInvalid(errors)
    if not incident.components.filter(pk=release.component_id).exists():
        raise IncidentInvalid(
            {"release": f"{release} is not of a component this incident affects."}
        )
    with transaction.atomic():
        rolled = releases.release_rollback(release=release, reason=reason, by=by, at=at)
        restored = Release.objects.filter(pk=rolled.rollback.restored_id).first()
        said = f"Rolled back {release.component.name} {release.version}"
        said += f"; {restored.version} is current again." if restored else "."
        return incident_update(
            incident=incident, body=f"{said}\n\n{reason}", by=by, rollback=rolled, at=at
        )


def escalate_overdue(*, at: dt.datetime | None = None) -> int:
    """Tell the owner of each incident whose promised update is late; then senior management,
    ``STATUS_ESCALATE_AFTER`` later. Each step once per promise. Returns the steps taken."""
    at = at or timezone.now()
    after = dt.timedelta(minutes=settings.STATUS_ESCALATE_AFTER_MINUTES)
    taken = 0
    due = Incident.objects.open().filter(
        next_update_by__lte=at, escalation__lt=Incident.Escalation.MANAGEMENT
    )
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            incident = Incident.objects.select_for_update().filter(pk=pk).first()
            if incident is None or not incident.overdue(at):
                continue
            if incident.escalation == Incident.Escalation.NONE:
                step, what = Incident.Escalation.OWNER, "overdue_owner"
            elif at >= incident.next_update_by + after:
                step, what = Incident.Escalation.MANAGEMENT, "overdue_management"
            else:
                continue
            incident.escalation = step
            incident.save(update_fields=["escalation"])
            audit.record(action=f"status.incident.{what}", subject=incident, at=at)
            _tell(incident, None, what)
            taken += 1
    return taken


def outage_holds() -> list[Hold]:
    """Plugged into releases: each open major outage holds its components' regular releases.

    Internal incidents hold too (the outage is as real), but the gate, which anyone may ask,
    does not quote their title.
    """
    found = []
    open_majors = Incident.objects.open().filter(impact=Level.MAJOR).prefetch_related("components")
    for incident in open_majors:
        slugs = sorted(c.slug for c in incident.components.all())
        named = f"Incident #{incident.pk} “{incident.title}”" if incident.public else (
            f"An internal incident (#{incident.pk})"
        )  # fmt: skip
        since = incident.started_at
        since_text = when(since) if range_error(since) is None else "long ago"
        found.append(
            Hold(
                id=incident.pk,
                code=INCIDENT_OPEN,
                detail=f"{named} (major outage) is open on {', '.join(slugs)} since {since_text}. "
                "Regular releases wait until it is resolved; rollbacks and authorized "
                "exceptional releases still go.",
                start=since,
                components=frozenset(slugs),
            )
        )
    return found


def incident_runners():
    """The active people who may open, update and own incidents."""
    from django.db.models import Q

    return (
        get_user_model()
        .objects.filter(
            Q(is_superuser=True) | Q(groups__name__in=[roles.RELEASE_ENGINEERS, roles.OPERATIONS]),
            is_active=True,
        )
        .distinct()
        .order_by("username")
    )


def support_contacts_save(*, values: dict, by, at: dt.datetime | None = None) -> SupportContacts:
    """Senior management edits what customers are told to write to or call."""
    at = at or timezone.now()
    if not roles.is_senior_manager(by):
        raise IncidentRefused(
            "not_allowed", "Only senior management edits the support contacts.", status=403
        )
    with transaction.atomic():
        contacts = SupportContacts.objects.select_for_update().filter(pk=1).first()
        contacts = contacts or SupportContacts(pk=1)
        for name, value in values.items():
            setattr(contacts, name, value)
        contacts.updated_at, contacts.updated_by = at, by
        contacts.full_clean()
        contacts.save()
        audit.record(action="status.support.changed", subject=contacts, actor=by, at=at)
    return contacts
