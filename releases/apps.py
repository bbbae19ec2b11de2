from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases and windows"

    def ready(self):
        from audit import services as audit
        from releases import signals
        from releases.models import ReleaseEvent

        signals.connect()
        # Every timeline event is a governed fact (releases.services.record_event logs it).
        audit.register(
            ReleaseEvent, ["release", "actor", "at", "action", "from_state", "to_state", "details"]
        )
