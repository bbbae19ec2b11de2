from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "notes"
    verbose_name = "Notes, notices and feeds"

    def ready(self):
        # A perceptible-impact release waits for its notice's lead time, and the notice follows
        # its release (releases/hooks.py lists every plug-in).
        from audit import services as audit
        from notes import calendar, guards, services, timeline
        from notes.models import AdvanceNotice, NoticeRevision
        from releases import guards as release_guards
        from releases import hooks

        timeline.register()
        hooks.register_facts(services.notice_facts)
        hooks.register_event_hook(services.on_release_event)
        hooks.register_guard(release_guards.SCHEDULE, guards.schedule_keeps_lead_time)
        hooks.register_guard("announce", guards.notice_published_in_time)
        hooks.register_guard("start", guards.starts_after_lead_time)
        lower = release_guards.LOWER_IMPACT
        hooks.register_guard(lower, guards.notice_withdrawn_before_lowering)
        # Notices (drafts included) and their revisions are governed rows. Not updated_at: it
        # says when the row was saved, not what it says.
        audit.register(
            AdvanceNotice,
            ["release", "headline", "description", "tentative_start", "tentative_zone",
             "certainty", "nature", "action_required", "action_deadline", "benefits",
             "impact_level", "status", "revision", "published_at", "created_at"],
        )  # fmt: skip
        audit.register(NoticeRevision, ["notice", "number", "at", "by", "changes", "snapshot"])
        # Notices' tentative dates on the desk's calendar.
        hooks.register_calendar_source(calendar.notice_dates)
