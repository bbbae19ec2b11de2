from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases and windows"

    def ready(self):
        from django.conf import settings

        from audit import services as audit
        from lib import checks, zones
        from releases import signals
        from releases.models import ReleaseEvent

        signals.connect()
        assert checks.schedules_resolve  # registered on import: every schedule's task exists
        # Refusals and traces give local time and UTC; a desk request may choose another zone.
        zones.configure(settings.DISPLAY_TIME_ZONE)
        # Every timeline event is a governed fact (releases.services.record_event logs it).
        audit.register(
            ReleaseEvent, ["release", "actor", "at", "action", "from_state", "to_state", "details"]
        )
