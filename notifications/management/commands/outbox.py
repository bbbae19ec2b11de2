import json as _json

from django.core.management.base import BaseCommand
from django.db.models import Count

from notifications import channels, outbox
from notifications.models import Delivery


class Command(BaseCommand):
    help = (
        "Look into and drive the notifications outbox. The cluster's schedules run the sweeper "
        "every minute; these are for operators (and tests) who want it now."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{status,sweep,retry}")
        status = sub.add_parser(
            "status", help="Deliveries by status, and channels that keep failing."
        )
        status.add_argument("--json", action="store_true", help="One JSON object, with ids.")
        sub.add_parser("sweep", help="Queue again every delivery that is due and not in flight.")
        sub.add_parser("retry", help="Give every dead delivery a fresh set of attempts.")

    def handle(self, *args, action, **options):
        return getattr(self, f"_{action}")(**options)

    def _status(self, json=False, **_):
        counts = dict(
            Delivery.objects.values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        counts = {status: counts.get(status, 0) for status in Delivery.Status.values}
        unhealthy = list(channels.unhealthy())
        if not json:
            for status, n in counts.items():
                self.stdout.write(f"{status}\t{n}")
            for channel in unhealthy:
                self.stdout.write(
                    f"unhealthy channel\t{channel.name}\t{channel.consecutive_failures} "
                    f"failures in a row\t{channel.last_error}"
                )
            return
        ids = {
            status: [
                str(u)
                for u in Delivery.objects.filter(status=status).values_list("uuid", flat=True)
            ]
            for status in Delivery.Status.values
        }
        unhealthy = [
            {"name": c.name, "failures": c.consecutive_failures, "last_error": c.last_error}
            for c in unhealthy
        ]
        self.stdout.write(_json.dumps({"counts": counts, "ids": ids, "unhealthy": unhealthy}))

    def _sweep(self, **_):
        self.stdout.write(f"Queued {outbox.sweep()} deliveries.")

    def _retry(self, **_):
        dead = Delivery.objects.filter(status=Delivery.Status.DEAD).values_list("pk", flat=True)
        self.stdout.write(f"Queued {outbox.delivery_retry(ids=dead)} dead deliveries again.")
