"""The status feed: every public incident update, newest first (Atom)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse

from releases.feeds import ComponentFeed, tag
from status.models import IncidentUpdate


class StatusFeed(ComponentFeed):
    """Service-level changes as they happen, with the follow-ups until back to normal."""

    def title(self, query):
        return f"Nightshift status{f' — {query}' if query.component else ''}"

    def subtitle(self, query):
        return "Incidents, their updates, and when the service is back to normal."

    def link(self, query):
        return reverse("status")

    def items(self, query):
        updates = IncidentUpdate.objects.filter(incident__public=True).select_related("incident")
        if query.component:
            updates = updates.filter(incident__components__slug=query.component)
        return list(updates.order_by("-at", "-id")[:50])

    def item_title(self, update):
        incident = update.incident
        return f"{incident.title}: {update.get_state_display()} ({update.get_impact_display()})"

    def item_description(self, update):
        return render_to_string("status/_update.html", {"update": update, "feed": True})

    def item_link(self, update):
        return reverse("incident-detail", args=[update.incident_id]) + f"#update-{update.pk}"

    def item_guid(self, update):
        return tag(f"incident-{update.incident_id}-update-{update.pk}")

    def item_guid_is_permalink(self, update):
        return False

    def item_pubdate(self, update):
        return update.at

    def item_updateddate(self, update):
        return update.at  # an update is never edited: published is updated

    def item_categories(self, update):
        return [update.state, update.impact]
