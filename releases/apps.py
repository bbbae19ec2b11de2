from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases and windows"

    def ready(self):
        from django.conf import settings

        from audit import services as audit
        from lib import zones
        from releases import signals
        from releases.models import ReleaseEvent

        signals.connect()
        # Refusals and traces give local time and UTC; a desk request may choose another zone.
        zones.configure(settings.DISPLAY_TIME_ZONE)
        # Every timeline event is a governed fact (releases.services.record_event logs it).
        audit.register(
            ReleaseEvent, ["release", "actor", "at", "action", "from_state", "to_state", "details"]
        )
