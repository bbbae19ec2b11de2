from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        # Every release event that customers or owners must hear about queues its deliveries in
        # the transaction that wrote the event (the outbox), without releases knowing.
        from audit import services as audit
        from notifications import causes
        from releases import hooks

        hooks.register_event_hook(causes.on_release_event)
        from rules import services as rules

        rules.register_listener(causes.on_rule_change)
        from status import services as status

        status.register_listener(causes.on_status)
        # The audit log's daily anchor, or the break found instead, goes to senior management.
        audit.register_notifier(causes.audit_notice)
