"""How notices' events read on a release's timeline (plugged into releases.timeline)."""

from __future__ import annotations

from releases import hooks
from releases.timeline import who


def register() -> None:
    hooks.register_describer(
        "notice_drafted", lambda e: f"{who(e)} drafted advance notice #{e.details.get('notice')}."
    )
    hooks.register_describer(
        "notice_published",
        lambda e: (
            f"{who(e)} published the advance notice: customers have "
            f"{e.details.get('lead_days')} days' notice."
        ),
    )
    hooks.register_describer(
        "notice_revised",
        lambda e: f"{who(e)} revised the notice: {' '.join(e.details.get('changes', []))}",
    )
    hooks.register_describer(
        "notice_withdrawn",
        lambda e: f"{who(e)} withdrew the notice: customers are told they need not act.",
    )
    hooks.register_describer("notice_done", lambda e: "The notice is done: the release happened.")
