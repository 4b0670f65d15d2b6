"""Delivering the outbox: claimed batches to each peer, backoff, and the delivery thread.

``deliver_pending`` sends what is due, once per event however many processes deliver the
same outbox (each batch is claimed while it is sent). ``background`` is this process's
delivery thread: it runs ``deliver_pending`` and keeps retrying with backoff for as long
as events are pending. ``events`` (after a deletion commits), ``tasks`` (the Tasks
framework's entry point) and ``manage.py federation_deliver`` all deliver through here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F
from django.utils import timezone

from . import peers
from .conf import DEFAULTS, federated_settings
from .exceptions import FederationError, ProtocolError
from .models import OutboxEvent

__all__ = [
    "BackgroundDelivery",
    "DeliveryReport",
    "background",
    "backoff",
    "close_connections",
    "deliver_or_log",
    "deliver_pending",
    "failure_wait",
    "next_due",
    "wait_until_due",
]

logger = logging.getLogger("federated_relations")

#: Events sent to a peer per request (the client splits further by the peer's cap).
BATCH_SIZE = 100

#: Shortest sleep between two passes (rows another process is sending look due).
MIN_WAIT = 0.25

#: The most an error message stored in ``OutboxEvent.last_error`` keeps.
ERROR_LENGTH = 1000


@dataclass
class DeliveryReport:
    """What one ``deliver_pending`` call did: event ids per peer."""

    delivered: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def delivered_count(self) -> int:
        """Return how many (event, peer) rows were delivered."""
        return sum(len(ids) for ids in self.delivered.values())


def _max_backoff() -> float:
    return float(federated_settings.RETRY_BACKOFF_MAX)


def backoff(attempts: int) -> timedelta:
    """Return the delay before the next attempt of an event tried ``attempts`` times.

    ``RETRY_BACKOFF`` after the first attempt, doubling with each failure, at most
    ``RETRY_BACKOFF_MAX``; no delay before the first attempt.
    """
    if attempts <= 0:
        return timedelta(0)
    base = float(federated_settings.RETRY_BACKOFF)
    return timedelta(seconds=min(base * 2 ** min(attempts - 1, 64), _max_backoff()))


def _pending(using: str, peer_names: Iterable[str] | None = None) -> Any:
    """Return the undelivered rows of ``using`` for the configured peers of ``peer_names``."""
    configured = set(federated_settings.PEERS)
    wanted = configured if peer_names is None else configured & set(peer_names)
    return OutboxEvent.objects.using(using).filter(
        delivered_at__isnull=True, peer__in=sorted(wanted)
    )


def next_due(using: str, peer_names: Iterable[str] | None = None) -> datetime | None:
    """Return when the next pending event of ``using`` is due (``None``: nothing pending)."""
    return _pending(using, peer_names).order_by("next_attempt_at").values_list(
        "next_attempt_at", flat=True
    ).first()


def _claim(using: str, peer: str, *, due_by: datetime | None) -> list[Any]:
    """Lock and return the next batch of ``peer``'s pending rows (in a transaction).

    PostgreSQL (and the other databases that can) skips rows another worker has locked,
    so two workers never send one event; SQLite has one writer at a time, taken here
    before reading, so the other worker waits and then sees the rows delivered.
    """
    rows = _pending(using, [peer])
    if due_by is not None:
        rows = rows.filter(next_attempt_at__lte=due_by)
    connection = connections[using]
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    elif connection.features.has_select_for_update:
        rows = rows.select_for_update()
    elif connection.vendor == "sqlite":
        # A write (of no row) takes SQLite's write lock for the rest of the transaction.
        OutboxEvent.objects.using(using).filter(pk=-1).update(attempts=F("attempts"))
    return list(rows.order_by("pk")[:BATCH_SIZE])


def deliver_pending(
    *,
    using: str = DEFAULT_DB_ALIAS,
    peers: Iterable[str] | None = None,
    include_not_due: bool = False,
    now: datetime | None = None,
    deadline: float | None = None,
) -> DeliveryReport:
    """Send the due events of the outbox to their peers; return what was delivered.

    Each peer gets its events in batches of ``BATCH_SIZE``, each batch claimed (locked)
    for the time of its request, so concurrent workers never send one event twice. The
    ids a peer accepts are marked delivered; the others are retried later with backoff
    (``backoff()``). Once a peer accepted a batch, its events still waiting for their
    backoff are sent too: it is evidently back. Events a peer refuses as malformed (400)
    are dropped, with a warning: sending them again could never succeed.
    ``include_not_due`` sends every pending event at once (``federation_deliver --all``);
    ``deadline`` (a ``time.monotonic()`` value) stops before a batch that would start
    later. Events for a peer that is no longer in ``PEERS`` stay pending.
    """
    now = now or timezone.now()
    report = DeliveryReport()
    wanted = sorted(set(
        _pending(using, peers).order_by().values_list("peer", flat=True).distinct()
    ))
    for peer in wanted:
        due_by = None if include_not_due else now
        while deadline is None or time.monotonic() < deadline:
            with transaction.atomic(using=using):
                rows = _claim(using, peer, due_by=due_by)
                if not rows:
                    break
                error = _send_batch(peer, rows, using=using, report=report)
            if error is not None:
                report.failed[peer] = error
                break  # the next batches would fail the same way
            due_by = None
    return report


def _is_malformed_refusal(error: FederationError) -> bool:
    """Return whether the peer refused the events themselves (never retry them as is).

    Only the events endpoint's own refusal counts (400 with the code ``bad_event``): any
    other 400 — a proxy's, or Django's for a host not in ``ALLOWED_HOSTS`` — is a fault
    of the way there, retried like any other.
    """
    return (
        isinstance(error, ProtocolError)
        and getattr(error, "status", None) == 400
        and getattr(error, "code", None) == "bad_event"
    )


def _storable(text: str) -> str:
    """Return ``text`` as ``last_error`` can store it: no NUL (PostgreSQL refuses it), short.

    The peer's answer is part of the message: a message the database refuses would roll
    back the update of the rows, which would then be sent again and again.
    """
    return text.replace("\x00", "\\x00")[:ERROR_LENGTH]


def _send_batch(
    peer: str, rows: list[Any], *, using: str, report: DeliveryReport
) -> str | None:
    attempted_at = timezone.now()
    try:
        answer = peers.send_events(peer, [row.as_event() for row in rows])
        accepted = {str(event_id) for event_id in answer.get("accepted", [])}
        error = None
    except FederationError as exc:
        if _is_malformed_refusal(exc):
            return _send_one_by_one(peer, rows, exc, using=using, report=report)
        accepted, error = set(), f"{type(exc).__name__}: {exc}"
    done = [row.pk for row in rows if str(row.event_id) in accepted]
    if done:
        OutboxEvent.objects.using(using).filter(pk__in=done).update(
            delivered_at=attempted_at, last_error=""
        )
        report.delivered[peer].extend(str(row.event_id) for row in rows if row.pk in done)
    refused = [row for row in rows if row.pk not in set(done)]
    if refused and error is None:
        error = f"the peer did not accept {len(refused)} event(s)"
    for row in refused:
        # Per row: attempts differ between rows, so does their backoff.
        OutboxEvent.objects.using(using).filter(pk=row.pk).update(
            attempts=row.attempts + 1,
            next_attempt_at=attempted_at + backoff(row.attempts + 1),
            last_error=_storable(error or ""),
        )
    if error is not None:
        logger.warning("Could not deliver %d event(s) to peer %r: %s", len(refused), peer, error)
    return error


def _send_one_by_one(
    peer: str, rows: list[Any], refusal: FederationError, *, using: str,
    report: DeliveryReport,
) -> str | None:
    """Drop the rows the peer refuses as malformed; send the others of the batch alone."""
    if len(rows) > 1:
        error = None
        for row in rows:  # a rare path: find which events the peer refuses
            error = _send_batch(peer, [row], using=using, report=report) or error
        return error
    (row,) = rows
    reason = f"dropped: the peer refused it as malformed: {refusal}"
    OutboxEvent.objects.using(using).filter(pk=row.pk).update(
        delivered_at=timezone.now(), attempts=row.attempts + 1, last_error=_storable(reason)
    )
    report.dropped[peer].append(str(row.event_id))
    logger.warning(
        "Dropped event %s (%s %s.%s pk=%r): peer %r refuses it as malformed and would "
        "refuse it again: %s", row.event_id, row.event_type, row.app_label, row.model,
        row.object_pk, peer, refusal,
    )
    return None


def deliver_or_log(
    using: str, *, include_not_due: bool = False, deadline: float | None = None
) -> DeliveryReport | None:
    """Run ``deliver_pending``; log what it raised instead (``None``), never raise."""
    try:
        return deliver_pending(using=using, include_not_due=include_not_due, deadline=deadline)
    except Exception:  # never let delivery break the deleting request
        logger.exception("Delivering federation events failed.")
        return None


def wait_until_due(due: Iterable[datetime | None], *, longest: float) -> float:
    """Return how long to sleep before the earliest of ``due`` (``None``: nothing pending).

    At least ``MIN_WAIT``, at most ``longest`` (which is also the wait when nothing is due).
    """
    times = [when for when in due if when is not None]
    if not times:
        return longest
    until = (min(times) - timezone.now()).total_seconds()
    return min(max(until, MIN_WAIT), longest)


def failure_wait(failures: int) -> float:
    """Return the sleep after ``failures`` failed passes in a row (``backoff(failures)``)."""
    try:
        return backoff(failures).total_seconds()
    except ImproperlyConfigured:  # a broken settings change: retry at the default pace
        return min(float(DEFAULTS["RETRY_BACKOFF"]) * 2 ** min(failures - 1, 64),
                   float(DEFAULTS["RETRY_BACKOFF_MAX"]))


def close_connections() -> None:
    """Close this thread's connections; a connection already broken is just dropped.

    One inside a caller's transaction (``call_command`` in ``atomic``) stays open: closing
    it would end that transaction.
    """
    for connection in connections.all():
        if connection.in_atomic_block:
            continue
        try:
            connection.close()
        except Exception:
            logger.debug("Closing a database connection failed.", exc_info=True)


class BackgroundDelivery:
    """One delivery thread per process: new events wake it; it retries while any is pending.

    Each pass sends what is due (``deliver_pending``); then the thread sleeps until the
    next pending event is due (its backoff, ``RETRY_BACKOFF`` doubling up to
    ``RETRY_BACKOFF_MAX``), or until new events wake it, and stops once nothing is pending.
    Other processes of the server may deliver the same outbox at the same time: the rows
    are claimed, so each event is sent by one of them. At exit (``events.flush``) the
    thread ends after its current pass, within ``FLUSH_TIMEOUT``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._new: set[str] = set()
        self._wake = threading.Event()
        self._stopping = False
        self._deadline: float | None = None
        self._idle = threading.Event()  # set while nothing is due: asleep or stopped
        self._idle.set()

    def _reset_after_fork(self) -> None:
        # A forked child has none of its parent's threads, and maybe a held lock.
        self._lock = threading.Lock()
        self._thread = None
        self._new = set()
        self._wake = threading.Event()
        self._stopping = False
        self._deadline = None
        self._idle = threading.Event()
        self._idle.set()

    def start(self, using: str) -> None:
        """Deliver the events of database ``using`` now, and retry them until delivered."""
        with self._lock:
            if self._stopping:
                return  # exiting: what is pending stays in the outbox
            self._new.add(using)
            self._idle.clear()
            self._wake.set()
            if self._thread is not None and self._thread.is_alive():
                return
            thread = threading.Thread(
                target=self._run, name="federated-relations-outbox", daemon=True
            )
            try:
                self._spawn(thread)
            except RuntimeError:
                # Python 3.12+ starts no thread during interpreter shutdown (a deletion
                # committed by an atexit handler): the events stay in the outbox.
                self._thread = None
                self._new.clear()
                self._idle.set()
                logger.warning(
                    "Could not start the federation delivery thread (exiting?): the events "
                    "stay in the outbox."
                )
                return
            self._thread = thread

    def _spawn(self, thread: threading.Thread) -> None:
        """Start ``thread`` (a step of its own: tests stand in for an interpreter at exit)."""
        thread.start()

    def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` between two passes, or until new events wake the thread."""
        with self._lock:
            if not self._new:
                self._idle.set()
        self._wake.wait(seconds)
        self._idle.clear()

    def _run(self) -> None:
        pending: set[str] = set()
        failures = 0  # passes failed in a row: they back off like undelivered events
        try:
            while True:
                with self._lock:
                    new, self._new = self._new, set()
                    self._wake.clear()
                    aliases = pending | new
                    stopping, deadline = self._stopping, self._deadline
                    if not aliases or (stopping and not new):
                        self._thread = None
                        self._idle.set()
                        return
                try:
                    reports = [deliver_or_log(using, deadline=deadline)
                               for using in sorted(aliases)]
                    due = [next_due(using) for using in sorted(aliases)]
                    pending = {using for using, when in zip(sorted(aliases), due) if when}
                    failed = None in reports
                    wait = wait_until_due(due, longest=_max_backoff())
                except Exception:
                    # Whatever failed (the database, the settings) may fail again: never
                    # end while events may be pending, never retry in a tight loop.
                    if not failures:
                        logger.exception("A federation delivery pass failed; retrying later.")
                    pending, failed, wait = aliases, True, 0.0
                failures = failures + 1 if failed else 0
                if failures:
                    # The pass rolled back (e.g. after the exchange): the rows still look
                    # due, sending them again at once would hammer the peer.
                    wait = failure_wait(failures)
                if not pending or stopping:
                    continue
                if wait >= 1.0 or failures:
                    close_connections()  # hold no (maybe broken) connection while asleep
                self._pause(wait)
        except Exception:  # not expected: every pass's own failures are caught above
            logger.exception("The federation delivery thread failed.")
            with self._lock:
                self._thread = None
                self._idle.set()
        finally:
            close_connections()  # this thread's connections only

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until nothing is due: every pass done, the thread asleep or stopped.

        Return whether that happened within ``timeout``. Events still pending then wait
        for their backoff.
        """
        return self._idle.wait(timeout)

    def flush(self, timeout: float, *, stop: bool = False) -> bool:
        """Finish the current pass (and one for events committed since) within ``timeout``.

        No retry is waited for: what is not delivered stays in the outbox, for this
        server's next delivery, another process or ``federation_deliver``. Only ``stop``
        (the exit) ends the thread, and no thread starts after it; otherwise the thread
        goes on retrying as before.
        """
        if not stop:
            return self._idle.wait(timeout)
        with self._lock:
            self._stopping = True
            thread = self._thread
            if thread is None or not thread.is_alive():
                return True
            self._deadline = time.monotonic() + timeout
            self._wake.set()
        thread.join(timeout)
        return not thread.is_alive()


#: This process's delivery thread.
background = BackgroundDelivery()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=background._reset_after_fork)
