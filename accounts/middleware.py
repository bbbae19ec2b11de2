"""The desk works in the team's time zone, or the one its reader chose."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from lib import zones


def desk_zone(user) -> str:
    """The zone ``user`` reads and types times in on the desk."""
    chosen = ""
    if user is not None and user.is_authenticated:
        chosen = getattr(getattr(user, "preferences", None), "time_zone", "") or ""
    return chosen or settings.TEAM_TIME_ZONE


class DeskTimeZoneMiddleware:
    """Under /admin/: Django's forms parse and show times in that zone (so 00:30 typed for
    Wednesday's window means 00:30 there), and refusals word instants in it too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        zone = desk_zone(getattr(request, "user", None))
        timezone.activate(zones.named(zone))
        try:
            with zones.shown_in(zone):
                return self.get_response(request)
        finally:
            timezone.deactivate()
