from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiKey
from accounts.services import apikey_create, apikey_revoke


class Command(BaseCommand):
    help = "Create, list and revoke API keys. A new key is printed once and never stored."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = sub.add_parser("create", help="Create a key for a user and print it.")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="What uses the key, e.g. 'CI deploy'.")
        lst = sub.add_parser("list", help="List keys (prefix, owner, name, state).")
        lst.add_argument("username", nargs="?", help="Only this user's keys.")
        revoke = sub.add_parser("revoke", help="Revoke a key by its prefix (ns_xxxxxxxx).")
        revoke.add_argument("prefix")

    def handle(self, *args, action, **options):
        return getattr(self, f"_{action}")(**options)

    def _create(self, username, name, **_):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user called '{username}'.")
        try:
            key, plaintext = apikey_create(user=user, name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Created {key.prefix} for {username}; it is shown only now:")
        self.stdout.write(plaintext)

    def _list(self, username=None, **_):
        keys = ApiKey.objects.select_related("user").order_by("created_at")
        if username:
            keys = keys.filter(user__username=username)
        for key in keys:
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            self.stdout.write(f"{key.prefix}\t{key.user.username}\t{key.name}\t{state}")

    def _revoke(self, prefix, **_):
        key = ApiKey.objects.filter(prefix=prefix).first()
        if key is None:
            raise CommandError(f"No API key with prefix '{prefix}'.")
        apikey_revoke(key=key)
        self.stdout.write(f"Revoked {prefix}.")
