"""`manage.py audit verify | export | daily | baseline`."""

from __future__ import annotations

import csv
import json
import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from audit import services


def _instant(raw: str):
    try:
        return services.parse_instant(raw)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _anchor(raw: str):
    try:
        return services.parse_anchor(raw)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


class Command(BaseCommand):
    help = "Verify the audit log, export it, or run the daily verification and anchor now."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser(
            "verify",
            help="Walk the chain and reconcile the governed tables; non-zero exit on a problem.",
        )
        verify.add_argument(
            "--expect",
            action="append",
            default=[],
            metavar="SEQ:HASH",
            help="An anchor (from its e-mail) that must still be on the chain; repeatable.",
        )
        export = sub.add_parser("export", help="Entries as JSON Lines or CSV, on stdout.")
        export.add_argument("--since", required=True, help="ISO 8601 instant with an offset.")
        export.add_argument("--until", help="ISO 8601 instant with an offset (excluded).")
        export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        export.add_argument("--actor", help="Only this user name's entries.")
        export.add_argument("--subject-type")
        export.add_argument("--subject-id")
        sub.add_parser(
            "daily",
            help="What the schedule does once a day: verify, then send the anchor (or the break).",
        )
        sub.add_parser(
            "baseline",
            help="Record the governed rows the log has never seen (migrate does it too).",
        )

    def handle(self, *args, action, **options):
        return getattr(self, f"_{action}")(**options)

    def _verify(self, expect, **_):
        expected = [_anchor(raw) for raw in expect]
        started = time.monotonic()
        report = services.verify(expect=expected)
        elapsed = time.monotonic() - started
        if report.ok:
            self.stdout.write(f"{report.summary()} ({elapsed:.1f} s)")
            return
        for problem in report.broken:
            self.stdout.write(f"BROKEN {problem}")
        for problem in report.unreconciled:
            self.stdout.write(f"UNRECONCILED {problem}")
        raise CommandError(report.summary())

    def _export(self, since, until=None, format="jsonl", actor=None, **options):
        rows = services.export(
            since=_instant(since),
            until=_instant(until) if until else None,
            actor=actor,
            subject_type=options.get("subject_type"),
            subject_id=options.get("subject_id"),
        )
        out = self.stdout._out if hasattr(self.stdout, "_out") else sys.stdout
        try:
            self._write(rows, format, out)
        except BrokenPipeError:  # `| head`: the reader has what it wanted; exit quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def _write(self, rows, format, out):
        if format == "jsonl":
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        writer = csv.DictWriter(out, fieldnames=services.EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            for name in ("before", "after"):
                if row[name] is not None:
                    row[name] = services.canonical(row[name]).decode()
            writer.writerow(row)

    def _daily(self, **_):
        anchor = services.daily()
        if anchor is None:
            self.stdout.write("Today's verification and anchor were done already.")
        elif anchor.problem:
            raise CommandError(
                f"Verification failed; senior management was told:\n{anchor.problem}"
            )
        else:
            self.stdout.write(
                f"Anchored #{anchor.seq}:{anchor.hash}; sent to {len(anchor.recipients)} people."
            )

    def _baseline(self, **_):
        self.stdout.write(f"{services.baseline()} baseline entries recorded.")
