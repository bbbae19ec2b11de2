from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "notes"
    verbose_name = "Notes, notices and feeds"

    def ready(self):
        # A perceptible-impact release waits for its notice's lead time (DESIGN rule 5).
        from notes import guards, services
        from releases import guards as release_guards
        from releases import services as releases

        releases.register_facts(services.notice_facts)
        for action in ("announce", "start"):
            release_guards.register(action, guards.notice_lead_time)
