from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self):
        # Plug into the releases app without it knowing: the authorization fact its start
        # guard needs, and invalidation when an approved release changes.
        from approvals import calendar, services, timeline
        from approvals.models import ApprovalDecision, ApprovalRequest
        from audit import services as audit
        from releases import hooks

        timeline.register()
        hooks.register_facts(services.authorization_facts)
        hooks.register_event_hook(services.on_release_event)
        # The requests and decisions themselves are governed rows (audit verify reconciles them).
        audit.register(
            ApprovalRequest,
            ["release", "requester", "urgency", "justification", "slot_start", "slot_end",
             "waives_notice", "status", "fingerprint", "created_at", "decided_at"],
        )  # fmt: skip
        audit.register(ApprovalDecision, ["request", "approver", "verdict", "comment", "at"])
        # Approved slots on the desk's calendar.
        hooks.register_calendar_source(calendar.approved_slots)
