from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import roles
from releases.models import Component

COMPONENTS = [
    ("streamserver", "StreamServer", Component.Kind.INFRASTRUCTURE),
    ("items-api", "Items API", Component.Kind.API),
    ("js-client", "JavaScript client", Component.Kind.CLIENT),
]
USERS = [
    ("engineer", "Erin Engineer", roles.RELEASE_ENGINEERS),
    ("manager", "Morgan Manager", roles.SENIOR_MANAGEMENT),
    ("manager2", "Max Manager", roles.SENIOR_MANAGEMENT),
    ("customer", "Casey Customer", None),
]


class Command(BaseCommand):
    help = (
        "Load demo data: components and the users engineer, manager, manager2 and customer. "
        "Safe to run again; it resets their password to the one printed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default="nightshift-demo",
            help="Password given to every demo user (default: %(default)s).",
        )

    @transaction.atomic
    def handle(self, *args, password, **options):
        for slug, name, kind in COMPONENTS:
            Component.objects.update_or_create(slug=slug, defaults={"name": name, "kind": kind})
        User = get_user_model()
        for username, full_name, role in USERS:
            first, last = full_name.split()
            user, _ = User.objects.get_or_create(username=username)
            user.first_name, user.last_name = first, last
            user.email = f"{username}@example.com"
            user.is_staff = role is not None  # staff may use the admin desk
            user.set_password(password)
            user.save()
            if role:
                user.groups.set([Group.objects.get(name=role)])
        self.stdout.write(f"Demo components: {', '.join(slug for slug, *_ in COMPONENTS)}")
        self.stdout.write(
            f"Demo users ({', '.join(u for u, *_ in USERS)}) have the password: {password}"
        )
        self.stdout.write(
            f"Admin: {settings.SITE_URL}/admin/  API docs: {settings.SITE_URL}/api/docs/"
        )
