"""`manage.py probes run [--all] | prune [--keep-days N]`."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from status import probing


class Command(BaseCommand):
    help = (
        "Run the probes now, or prune their old raw samples. The cluster already runs the due "
        "probes every minute (schedule “status: run due probes”); this is for a person at a "
        "terminal."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{run,prune}")
        run = sub.add_parser(
            "run",
            help="Ask the active probes whose interval has passed, record their samples "
            "(and open an incident after enough consecutive failures).",
            description="Ask the active probes whose interval has passed and record what they "
            "find, exactly as the schedule does.",
        )
        run.add_argument(
            "--all",
            action="store_true",
            dest="everything",
            help="Ask every active probe now, whatever its interval.",
        )
        prune = sub.add_parser(
            "prune",
            help="Delete raw samples older than --keep-days; hourly and daily rollups are kept "
            "forever.",
            description="Delete raw probe samples older than --keep-days days. The rollups that "
            "uptime and latency are read from are kept forever, so history is not lost.",
        )
        prune.add_argument(
            "--keep-days",
            type=int,
            default=None,
            metavar="N",
            help=f"Days of raw samples to keep (default: PROBE_KEEP_DAYS, now "
            f"{settings.PROBE_KEEP_DAYS}); at least 1.",
        )

    def handle(self, *args, action, **options):
        now = timezone.now()
        if action == "run":
            count = probing.run_due_probes(now, everything=options["everything"])
            self.stdout.write(f"{count} probe(s) run.")
        else:
            keep = options["keep_days"]
            if keep is not None and keep < 1:
                raise CommandError(
                    f"--keep-days {keep}: keep at least 1 day (today's buckets are rolled up "
                    "from the raw samples)."
                )
            deleted = probing.prune(keep_days=keep, now=now)
            kept = settings.PROBE_KEEP_DAYS if keep is None else keep
            self.stdout.write(
                f"{deleted} sample(s) older than {kept} day(s) deleted; rollups kept."
            )
