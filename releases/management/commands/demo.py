import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from releases import selectors, services
from releases.models import Component, Release

HISTORY = dt.timedelta(days=100)
TITLES = [
    "Faster search",
    "Bulk export",
    "Webhook retries",
    "Smaller bundles",
    "Rate-limit headers",
    "Pagination fixes",
    "Audit log",
    "Dark mode",
    "Connection pooling",
    "Better error messages",
]

COMPONENTS = [
    ("streamserver", "StreamServer", Component.Kind.INFRASTRUCTURE),
    ("items-api", "Items API", Component.Kind.API),
    ("js-client", "JavaScript client", Component.Kind.CLIENT),
]
USERS = [
    ("engineer", "Erin Engineer", roles.RELEASE_ENGINEERS),
    ("manager", "Morgan Manager", roles.SENIOR_MANAGEMENT),
    ("manager2", "Max Manager", roles.SENIOR_MANAGEMENT),
    ("operator", "Opal Operator", roles.OPERATIONS),
]


class Command(BaseCommand):
    help = (
        "Load demo data for development (DEBUG=1 only): components, releases and the users "
        "engineer, manager, manager2 and operator, a resolved outage and the support contacts. "
        "Safe to run again: what exists is left as it is, "
        "passwords included. It sends no e-mail: its messages are in the outbox, skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default="nightshift-demo",
            help="Password given to every demo user (default: %(default)s).",
        )

    @transaction.atomic
    def handle(self, *args, password, **options):
        if not settings.DEBUG:
            # Users with a known password on a real site would be a gift to anyone.
            raise CommandError(
                "The demo data is for development only: run it with DEBUG=1 (make run does)."
            )
        for slug, name, kind in COMPONENTS:
            Component.objects.get_or_create(slug=slug, defaults={"name": name, "kind": kind})
        User = get_user_model()
        for username, full_name, role in USERS:
            first, last = full_name.split()
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@example.com",
                    "is_staff": role is not None,  # staff may use the admin desk
                },
            )
            if created:  # an existing user's password is theirs: never changed here
                user.set_password(password)
                user.save(update_fields=["password"])
                if role:
                    user.groups.set([Group.objects.get(name=role)])
        from notifications.models import Delivery  # the demo shows every app at work

        before = Delivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        self._history(User.objects.get(username="engineer"))
        self._status(User.objects.get(username="operator"), User.objects.get(username="manager"))
        # Demo news is history: nobody's mailbox (or terminal) should receive it.
        Delivery.objects.filter(pk__gt=before, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.SKIPPED, last_error="Demo data: not sent."
        )
        self.stdout.write(f"Demo components: {', '.join(slug for slug, *_ in COMPONENTS)}")
        self.stdout.write(
            f"Demo users ({', '.join(u for u, *_ in USERS)}) have the password: {password}"
        )
        self.stdout.write(
            f"Admin: {settings.SITE_URL}/admin/  API docs: {settings.SITE_URL}/api/docs/"
        )

    def _customers(self, now):
        """A key account with two contacts, a standard one, and two confirmed subscribers."""
        from notifications.models import Contact, CustomerAccount, Subscriber

        globex, _ = CustomerAccount.objects.get_or_create(name="Globex", defaults={"tier": "key"})
        for name, email in [
            ("Hank Scorpio", "hank@globex.example"),
            ("Iris", "iris@globex.example"),
        ]:
            Contact.objects.get_or_create(account=globex, email=email, defaults={"name": name})
        initech, _ = CustomerAccount.objects.get_or_create(name="Initech")
        Contact.objects.get_or_create(
            account=initech, email="peter@initech.example", defaults={"name": "Peter"}
        )
        Subscriber.objects.get_or_create(
            email="reader@example.com", defaults={"channel": "email", "confirmed_at": now}
        )
        Subscriber.objects.get_or_create(
            email="ops@example.com",
            defaults={"channel": "email", "confirmed_at": now, "on_items": False},
        )

    def _status(self, operator, manager):
        """The support contacts, and last month's outage in the log, resolved."""
        from status import services as status
        from status.models import Incident, SupportContacts

        if not (roles.is_senior_manager(manager) and status.may_run_incidents(operator)):
            return  # demo users that predate their roles: their accounts are left alone
        if not SupportContacts.objects.exists():
            status.support_contacts_save(
                by=manager,
                values={
                    "forum_url": "https://forum.example.com/c/developers",
                    "private_email": "solutions@example.com",
                    "emergency_email": "emergency@example.com",
                    "emergency_phone": "+1 555 0100",
                    "sales_email": "sales@example.com",
                },
            )
        from status.models import Probe

        # Live probes of the demo server itself: the status page fills as the cluster runs.
        site = settings.SITE_URL.rstrip("/")
        for name, path, component, contains in [
            ("Liveness", "/healthz", "streamserver", '"ok"'),
            ("Item API gate", "/api/v1/gate/?component=items-api", "items-api", '"decision"'),
        ]:
            Probe.objects.get_or_create(
                name=name,
                defaults={
                    "url": site + path,
                    "component": Component.objects.get(slug=component),
                    "body_contains": contains,
                    "timeout_seconds": 5,
                },
            )
        if Incident.objects.exists():
            return
        began = (timezone.now() - dt.timedelta(days=20)).replace(minute=12, second=0)
        api = Component.objects.get(slug="items-api")
        outage = status.incident_open(
            title="Item API writes failing",
            impact="major_outage",
            components=[api],
            body="Writes to the Item API fail with 503. We are investigating.",
            by=operator,
            at=began,
            next_update_by=began + dt.timedelta(minutes=30),
        )
        status.incident_update(
            incident=outage,
            body="A database failover left the write pool pointing at the old primary; "
            "reconnecting it now.",
            state="identified",
            by=operator,
            at=began + dt.timedelta(minutes=21),
            next_update_by=began + dt.timedelta(minutes=51),
        )
        status.incident_update(
            incident=outage,
            body="Writes succeed again; we are watching error rates.",
            state="monitoring",
            impact="degraded_performance",
            by=operator,
            at=began + dt.timedelta(minutes=47),
            next_update_by=began + dt.timedelta(minutes=77),
        )
        status.incident_resolve(
            incident=outage,
            body="Error rates are back to their usual level.",
            by=operator,
            at=began + dt.timedelta(minutes=75),
        )
        self.stdout.write("Demo outage: one resolved incident, in the outage log /status/history/.")

    def _history(self, engineer):
        """A few months of releases, driven through the services at past instants."""
        if Release.objects.filter(component__slug__in=[c[0] for c in COMPONENTS]).exists():
            self.stdout.write("Demo releases are already there; left as they are.")
            return
        now = timezone.now()
        calendar = selectors.window_calendar()
        made = 0
        for index, (slug, _name, _kind) in enumerate(COMPONENTS):
            component = Component.objects.get(slug=slug)
            past = calendar.windows(now - HISTORY, now - dt.timedelta(days=1), slug)
            for number, window in enumerate(past[index::3], start=1):
                start = window.start + dt.timedelta(minutes=15)
                release = services.release_create(
                    by=engineer,
                    component=component,
                    version=f"{index + 1}.{number}.0",
                    title=TITLES[(number + index) % len(TITLES)],
                    expected_duration_minutes=45,
                    scheduled_start=start,
                    at=start - dt.timedelta(days=3),
                    items=[
                        {"title": f"{TITLES[(number + index) % len(TITLES)]}", "type": "changed"},
                        {"title": "Dependency updates", "type": "security", "public": False},
                    ],
                )
                services.release_announce(
                    release=release, by=engineer, at=start - dt.timedelta(days=1)
                )
                services.release_start(release=release, by=engineer, at=start)
                services.release_complete(
                    release=release, by=engineer, at=start + dt.timedelta(minutes=40)
                )
                if slug == "items-api" and number == 4:
                    services.release_rollback(
                        release=release,
                        by=engineer,
                        at=start + dt.timedelta(minutes=55),
                        reason="Post-release checks: search latency tripled.",
                    )
                else:
                    services.release_verify(
                        release=release, by=engineer, at=start + dt.timedelta(hours=1, minutes=30)
                    )
                made += 1
        api = Component.objects.get(slug="items-api")
        upcoming = calendar.windows(
            now + dt.timedelta(days=1), now + dt.timedelta(days=40), "items-api"
        )
        nxt = services.release_create(
            by=engineer,
            component=api,
            version="9.1.0",
            title="Saved searches",
            at=now,
            scheduled_start=upcoming[0].start + dt.timedelta(minutes=30),
            items=[{"title": "Save a search and run it again", "type": "added"}],
        )
        services.release_announce(release=nxt, by=engineer, at=now)
        perceptible = services.release_create(
            by=engineer,
            component=api,
            version="10.0.0",
            title="Items API v2 authentication",
            impact=Release.Impact.PERCEPTIBLE,
            at=now,
            scheduled_start=upcoming[-1].start + dt.timedelta(minutes=10),
            items=[
                {"title": "API keys replace shared secrets", "type": "changed", "breaking": True}
            ],
        )
        self._customers(now)  # after the history: its past announcements are not re-sent
        from notes import services as notices  # the demo shows every app at work

        notice = notices.notice_create(
            release=perceptible,
            by=engineer,
            at=now,
            impact_level="medium",
            headline="API keys replace shared secrets for the Items API",
            description="Every request to the Items API will carry a per-application API key. "
            "Shared secrets stop working once the release is out.",
            tentative_start=perceptible.scheduled_start,
            certainty="likely",
            nature="Authentication change; backward-incompatible.",
            action_required="Create an API key for each application and send it in the "
            "`Authorization` header before the release.",
            action_deadline=perceptible.scheduled_start - dt.timedelta(days=1),
            benefits="Keys can be revoked one by one, and usage is reported per application.",
        )
        notices.notice_publish(notice=notice, by=engineer, at=now)
        # An urgent fix on a Monday afternoon, waiting for senior management.
        monday = now + dt.timedelta(days=(7 - now.weekday()) % 7 or 7)
        urgent = services.release_create(
            by=engineer,
            component=Component.objects.get(slug="streamserver"),
            version="3.9.1",
            title="Connection leak fix",
            kind=Release.Kind.EXCEPTIONAL,
            at=now,
            scheduled_start=monday.replace(hour=22, minute=0, second=0, microsecond=0),
            items=[{"title": "Fix a connection leak under load", "type": "fixed"}],
        )
        services.release_announce(release=urgent, by=engineer, at=now)
        from approvals.services import request_create  # the demo shows every app at work

        request_create(
            release=urgent,
            by=engineer,
            urgency="critical",
            at=now,
            justification="The leak exhausts connections every night; customers see timeouts.",
            slot_start=urgent.scheduled_start - dt.timedelta(minutes=30),
            slot_end=urgent.scheduled_start + dt.timedelta(hours=2),
        )
        self.stdout.write(f"Demo releases: {made} in the past months, 3 upcoming.")
