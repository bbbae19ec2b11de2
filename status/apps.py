from django.apps import AppConfig


class StatusConfig(AppConfig):
    name = "status"
    verbose_name = "Service status"

    def ready(self):
        from audit import services as audit
        from releases import hooks
        from status import services
        from status.models import Incident, IncidentUpdate, SupportContacts

        # An open major outage holds its components' regular releases (gate, start guard).
        hooks.register_hold_source(services.outage_holds)
        audit.register(
            Incident,
            ["title", "impact", "state", "public", "owner", "started_at", "resolved_at",
             "next_update_by", "postmortem_url"],
        )  # fmt: skip
        audit.register(
            IncidentUpdate,
            ["incident", "state", "impact", "body", "next_update_by", "rollback", "at", "by"],
        )
        audit.register(
            SupportContacts,
            ["forum_url", "private_email", "emergency_email", "emergency_phone", "sales_email"],
        )
