"""How notices' events read on a release's timeline (plugged into releases.timeline)."""

from __future__ import annotations

from releases import timeline
from releases.timeline import who


def register() -> None:
    timeline.register(
        "notice_drafted", lambda e: f"{who(e)} drafted advance notice #{e.details.get('notice')}."
    )
    timeline.register(
        "notice_published",
        lambda e: (
            f"{who(e)} published the advance notice: customers have "
            f"{e.details.get('lead_days')} days' notice."
        ),
    )
    timeline.register(
        "notice_revised",
        lambda e: f"{who(e)} revised the notice: {' '.join(e.details.get('changes', []))}",
    )
    timeline.register(
        "notice_withdrawn",
        lambda e: f"{who(e)} withdrew the notice: customers are told they need not act.",
    )
    timeline.register("notice_done", lambda e: "The notice is done: the release happened.")
