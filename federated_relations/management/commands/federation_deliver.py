"""``manage.py federation_deliver``: send the pending deletion events of the outbox.

Once (cron, or after a peer came back), or with ``--watch`` as a long-running delivery
worker: it sends what is due, sleeps until the next event is due (or ``--interval``, to
see events that other processes committed) and goes on until stopped (SIGTERM or
Ctrl-C end it after the current pass). Several workers, and the servers' own delivery,
may run at once: every batch is claimed, so each event is sent once.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from ...events import deliver_in_foreground
from ...models import OutboxEvent
from ...outbox import (
    DeliveryReport,
    close_connections,
    deliver_pending,
    failure_wait,
    next_due,
    wait_until_due,
)

__all__ = ["Command"]

logger = logging.getLogger("federated_relations")


class Command(BaseCommand):
    """Deliver the outbox's due events to their peers, once or (``--watch``) until stopped."""

    help = (
        "Deliver the pending deletion events of the outbox to the peers in "
        "FEDERATION['PEERS']. Exits with an error while some peer still refuses them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true",
            help=(
                "Also send events whose next attempt is not due yet (skip the backoff); "
                "with --watch, on the first pass only (then the backoff applies again)."
            ),
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
        parser.add_argument(
            "--watch", action="store_true",
            help="Keep running: deliver events as they become due, until stopped.",
        )
        parser.add_argument(
            "--interval", type=float, default=1.0, metavar="SECONDS",
            help="With --watch: look for new events at least this often (default 1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        deliver_in_foreground(options["database"])
        if options["watch"]:
            self.watch(options)
            return
        using = options["database"]
        report = deliver_pending(
            using=using, peers=options["peers"], include_not_due=options["all"]
        )
        self._write_pass(report)
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
            raise CommandError(f"Some events could not be delivered ({sorted(report.failed)}).")


    def watch(self, options: dict[str, Any]) -> None:
        """Deliver due events until SIGTERM, SIGINT or Ctrl-C (after the current pass)."""
        using, peers, interval = options["database"], options["peers"], options["interval"]
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        stop = threading.Event()
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *args: stop.set())
        self.stdout.write(f"Watching the outbox of {using!r} (every {interval:g} s at most).")
        self.stdout.flush()
        include_not_due = options["all"]  # the first pass only: then the backoff applies
        failures = 0  # passes failed in a row (the database away): they back off
        try:
            while not stop.is_set():
                try:
                    report = deliver_pending(
                        using=using, peers=peers, include_not_due=include_not_due
                    )
                    include_not_due = False
                    self._write_pass(report)
                    wait = wait_until_due([next_due(using, peers)], longest=interval)
                    failures = 0
                except Exception as exc:  # a worker outlives a database restart
                    if not failures:
                        logger.exception("A federation_deliver pass failed; retrying later.")
                    failures += 1
                    self.stderr.write(f"Delivery pass failed ({type(exc).__name__}: {exc}).")
                    wait = failure_wait(failures)
                if wait >= 1.0 or failures:
                    close_connections()  # hold no (maybe broken) connection while asleep
                self.pause(stop, wait)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write("Stopped.")

    def pause(self, stop: threading.Event, seconds: float) -> None:
        """Sleep ``seconds`` between two passes of ``--watch``, or until ``stop`` is set."""
        stop.wait(seconds)

    def _write_pass(self, report: DeliveryReport) -> None:
        for peer, ids in sorted(report.delivered.items()):
            self.stdout.write(f"{peer}: {len(ids)} event(s) delivered")
        for peer, ids in sorted(report.dropped.items()):
            self.stdout.write(
                f"{peer}: {len(ids)} event(s) dropped (refused as malformed): {', '.join(ids)}"
            )
        for peer, error in sorted(report.failed.items()):
            self.stderr.write(f"{peer}: not delivered: {error}")
        self.stdout.flush()
