from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and API keys"

    def ready(self):
        from accounts import roles, schema, signals  # noqa: F401 - schema registers the scheme
        from accounts.models import ApiKey
        from audit import services as audit

        # Keys are governed (who could act as whom); when one was last used is not.
        audit.register(ApiKey, ["user", "name", "prefix", "digest", "created_at", "revoked_at"])
        audit.register_reader(roles.may_read_audit_log)
        signals.connect()
