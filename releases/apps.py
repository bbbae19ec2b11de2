from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases and windows"

    def ready(self):
        from django.conf import settings

        from lib import zones
        from releases import signals

        signals.connect()
        # Refusals and traces give local time and UTC; a desk request may choose another zone.
        zones.configure(settings.DISPLAY_TIME_ZONE)
