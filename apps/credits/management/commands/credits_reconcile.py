"""Recompute every balance from the ledger and compare; exit 1 on any mismatch."""

import json

from django.core.management.base import BaseCommand

from apps.credits.services import credits_reconcile


class Command(BaseCommand):
    help = (
        "Recompute every credit balance and daily spend counter from the ledger, check every generation's "
        "settlement matches its outcome, print a report, and exit 1 if anything disagrees."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the report as JSON.")

    def handle(self, *args, as_json: bool = False, **options):
        report = credits_reconcile()
        problems = (report["balance_mismatches"] + report["settlement_mismatches"] + report["spend_mismatches"]
                    + report["provider_job_mismatches"])
        if as_json:
            self.stdout.write(json.dumps(report, default=str, indent=2))
        else:
            self.stdout.write(f"Accounts checked: {report['accounts']}; ledger entries: {report['entries']}")
            for row in report["balance_mismatches"]:
                self.stdout.write(
                    f"BALANCE MISMATCH user {row['user_id']}: account says {row['balance']}, "
                    f"ledger sums to {row['ledger']} (difference {row['balance'] - row['ledger']:+d})"
                )
            for row in report["settlement_mismatches"]:
                self.stdout.write(
                    f"SETTLEMENT MISMATCH generation {row['generation_id']} ({row['status']}): "
                    f"reserved={row['reserved']}, settled by {row['settlement'] or 'nothing'}, "
                    f"expected {row['expected'] or 'nothing yet'}; charged {row['charged']}"
                    + (f", expected {row['expected_charge']}" if row["expected_charge"] is not None else "")
                )
            for row in report["spend_mismatches"]:
                who = f"user {row['user_id']}" if row["user_id"] else "everyone"
                self.stdout.write(
                    f"SPEND MISMATCH {row['day']} {who}: counter {row['counter']}, ledger {row['ledger']}"
                )
            for row in report["provider_job_mismatches"]:
                self.stdout.write(
                    f"PROVIDER JOBS MISMATCH generation {row['generation_id']}: {row['billable_jobs']} billable "
                    f"provider jobs for {row['route_attempts']} route attempts"
                )
            self.stdout.write(
                f"Mismatches: {len(report['balance_mismatches'])} balance, "
                f"{len(report['settlement_mismatches'])} settlement, {len(report['spend_mismatches'])} spend."
            )
        if problems:
            raise SystemExit(1)
