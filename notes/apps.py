from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "notes"
    verbose_name = "Notes, notices and feeds"

    def ready(self):
        # A perceptible-impact release waits for its notice's lead time, and the notice follows
        # its release (docs/architecture.md, "Plug-ins").
        from notes import guards, services, timeline
        from releases import guards as release_guards
        from releases import services as releases

        timeline.register()
        releases.register_facts(services.notice_facts)
        releases.register_event_hook(services.on_release_event)
        release_guards.register(release_guards.SCHEDULE, guards.schedule_keeps_lead_time)
        release_guards.register("announce", guards.notice_published_in_time)
        release_guards.register("start", guards.starts_after_lead_time)
        lower = release_guards.LOWER_IMPACT
        release_guards.register(lower, guards.notice_withdrawn_before_lowering)
