from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases and windows"

    def ready(self):
        from releases import signals

        signals.connect()
