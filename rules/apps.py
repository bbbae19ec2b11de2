from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Rule changes"

    def ready(self):
        # The rules and every change to them are governed rows: audit verify reconciles them.
        from audit import services as audit
        from releases.models import Freeze, WindowPolicy
        from rules.models import RuleChange, RuleDecision
        from rules.rulebook import FIELDS

        audit.register(WindowPolicy, [*FIELDS["policy"][:-1], "version"])
        audit.register(Freeze, [*FIELDS["freeze"][:-1], "version"])
        audit.register(
            RuleChange,
            ["target", "operation", "target_id", "label", "payload", "base", "reason",
             "tightening", "proposer", "status", "created_at", "decided_at"],
        )  # fmt: skip
        audit.register(RuleDecision, ["change", "approver", "verdict", "comment", "at"])
