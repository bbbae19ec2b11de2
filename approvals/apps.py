from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self):
        # Plug into the releases app without it knowing: the authorization fact its start
        # guard needs, and invalidation when an approved release changes.
        from approvals import services, timeline
        from releases import services as releases

        timeline.register()
        releases.register_facts(services.authorization_facts)
        releases.register_event_hook(services.on_release_event)
