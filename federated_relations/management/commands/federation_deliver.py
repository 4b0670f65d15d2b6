"""``manage.py federation_deliver``: send the pending deletion events of the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from ...events import deliver_pending
from ...models import OutboxEvent

__all__ = ["Command"]


class Command(BaseCommand):
    """Deliver the outbox's due events to their peers (cron, or after a peer came back)."""

    help = (
        "Deliver the pending deletion events of the outbox to the peers in "
        "FEDERATION['PEERS']. Exits with an error while some peer still refuses them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true",
            help="Also send events whose next attempt is not due yet (skip the backoff).",
        )
        parser.add_argument(
            "--peer", action="append", dest="peers", metavar="NAME",
            help="Only deliver to this peer (repeatable).",
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="The database of the outbox.",
        )
        parser.add_argument(
            "--prune-days", type=int, metavar="DAYS",
            help="Then delete the events delivered more than DAYS days ago.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        report = deliver_pending(
            using=using, peers=options["peers"], include_not_due=options["all"]
        )
        for peer, ids in sorted(report.delivered.items()):
            self.stdout.write(f"{peer}: {len(ids)} event(s) delivered")
        self.stdout.write(f"{report.delivered_count} event(s) delivered in total.")
        if options["prune_days"] is not None:
            cutoff = timezone.now() - timedelta(days=options["prune_days"])
            pruned, _ = OutboxEvent.objects.using(using).filter(
                delivered_at__lt=cutoff
            ).delete()
            self.stdout.write(f"pruned {pruned} delivered event(s).")
        pending = OutboxEvent.objects.using(using).filter(delivered_at__isnull=True).count()
        if pending:
            self.stdout.write(f"{pending} event(s) still pending.")
        if report.failed:
            for peer, error in sorted(report.failed.items()):
                self.stderr.write(f"{peer}: not delivered: {error}")
            raise CommandError(f"Some events could not be delivered ({sorted(report.failed)}).")
