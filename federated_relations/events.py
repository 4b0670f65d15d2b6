"""Deletion events between servers: a durable outbox on the sender, idempotent receiving.

Sending: deleting an object of a model in ``EXPOSE``, by any path (a view, the admin,
``queryset.delete()``, ``manage.py shell``), writes one ``OutboxEvent`` per peer of
``PEERS`` from ``post_delete``, so in the deleting transaction: the event exists exactly
when the deletion committed. After the commit, this process's delivery thread sends what
is due, signed, to each peer (``deliver_pending``), and keeps retrying with backoff
(``RETRY_BACKOFF`` doubling up to ``RETRY_BACKOFF_MAX``) for as long as events are
pending; a process that exits first delivers at exit, within ``FLUSH_TIMEOUT``
(``flush``). Each batch is claimed while it is sent, so the worker processes of a server,
and ``manage.py federation_deliver --watch`` workers, never send one event twice. Where
the project configures Django's Tasks framework (``TASKS``), the delivery and its retries
are enqueued as tasks instead (``tasks.deliver_outbox``). Delivery never blocks, fails or
rolls back the deletion.

Receiving: ``receive_events(sender, events)`` (called by the ``events/`` view) applies
each event id once per sender: it records a ``ReceivedEvent``, tells the resolver that
the object is gone (the cache remembers it missing and ``remote_deleted`` is sent once)
and applies the ``on_delete`` handlers of the local relations pointing at it and the
``on_remote_delete`` of the ``FederatedForeignKey`` rows (``deletion.handle_remote_deletion``),
all in one transaction, so an event whose handler fails is not accepted and comes again.
An event naming a type this server has no ``GenericContentType`` row for is recorded and
applies nothing: no row can point at it, and no type is created for it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.models import F
from django.db.models.signals import post_delete
from django.utils import timezone

from . import resolver
from .conf import DEFAULTS, federated_settings
from .exceptions import FederationError, ProtocolError
from .keys import pk_to_string

__all__ = [
    "EVENT_DELETED",
    "DeliveryReport",
    "backoff",
    "connect_receivers",
    "deliver_pending",
    "flush",
    "receive_events",
    "schedule_delivery",
    "wait_for_delivery",
]

logger = logging.getLogger("federated_relations")

EVENT_DELETED = "deleted"

#: Events sent to a peer per request (the client splits further by the peer's cap).
BATCH_SIZE = 100

#: Deliver in a background thread after commit (False: in the committing thread, which
#: unit tests on in-memory databases need, since other threads see another database).
DELIVER_IN_BACKGROUND = True


# --- sending ---------------------------------------------------------------------------


def _exposed_models() -> list[Any]:
    """Return the exposed models and their proxies (a proxy's delete has its own sender)."""
    exposed = set()
    for label in federated_settings.EXPOSE:
        try:
            exposed.add(apps.get_model(label)._meta.concrete_model)
        except LookupError:
            continue  # reported by the checks (E402)
    return [model for model in apps.get_models() if model._meta.concrete_model in exposed]


_connected: list[Any] = []


def connect_receivers(**kwargs: Any) -> None:
    """Connect ``post_delete`` of every exposed model (again after a settings change).

    Receivers are connected per model, not for every sender, so the other models keep
    Django's fast deletes.
    """
    for model in _connected:
        post_delete.disconnect(sender=model, dispatch_uid="federated_relations.outbox")
    _connected.clear()
    for model in _exposed_models():
        post_delete.connect(
            record_deletion, sender=model, weak=False, dispatch_uid="federated_relations.outbox"
        )
        _connected.append(model)


def _reconnect_on_settings_change(*, setting: str, **kwargs: Any) -> None:
    if setting in ("FEDERATION", "FEDERATION_PROJECT_NAME") and apps.ready:
        try:
            connect_receivers()
        except ImproperlyConfigured:
            pass  # reported by the checks and by the next read of the settings


setting_changed.connect(_reconnect_on_settings_change)


def record_deletion(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
    """Write a deletion event for every peer in the deleting transaction (``post_delete``)."""
    from .models import OutboxEvent

    peers = federated_settings.PEERS
    if not peers:
        return
    opts = sender._meta.concrete_model._meta
    if opts.label_lower not in {label.lower() for label in federated_settings.EXPOSE}:
        return
    event_id = uuid.uuid4()
    pk = pk_to_string(opts.pk, instance.pk)
    OutboxEvent.objects.using(using).bulk_create(
        [
            OutboxEvent(
                event_id=event_id,
                peer=peer,
                event_type=EVENT_DELETED,
                app_label=opts.app_label,
                model=opts.model_name,
                object_pk=pk,
            )
            for peer in sorted(peers)
        ]
    )
    schedule_delivery(using)


class _DeliveryHook:
    """The on-commit callback of a transaction that recorded events (one per transaction)."""

    def __init__(self, using: str) -> None:
        self.using = using

    def __call__(self) -> None:
        from . import tasks

        if tasks.tasks_configured():
            try:
                tasks.deliver_outbox.enqueue(self.using)
            except Exception:  # never let delivery break the deleting request
                logger.exception("Enqueuing the delivery of federation events failed.")
        elif DELIVER_IN_BACKGROUND:
            _background.start(self.using)
        else:
            _deliver_logged(self.using)


def schedule_delivery(using: str = DEFAULT_DB_ALIAS) -> None:
    """Deliver the pending events once the current transaction commits (right away if none)."""
    connection = connections[using]
    if connection.in_atomic_block and any(
        isinstance(hook[1], _DeliveryHook) for hook in connection.run_on_commit
    ):
        return  # this transaction already delivers after its commit
    transaction.on_commit(_DeliveryHook(using), using=using, robust=True)


#: Database aliases whose pending events this process looked for (see resume_on_connect).
_resumed: set[str] = set()
_resumed_lock = threading.Lock()


def resume_on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Deliver the events left pending by an earlier process, on this one's first connection.

    A server restarted while a peer was down (or killed before its retries) would
    otherwise keep them until its next deletion: one ``EXISTS`` query per database and
    process, then the usual delivery (the thread, or the Tasks framework) takes over.
    """
    alias = connection.alias
    if not apps.ready or alias not in settings.DATABASES:
        return  # models still loading, or a connection of Django's own (test setup)
    with _resumed_lock:
        if alias in _resumed:
            return
        _resumed.add(alias)
    from .models import OutboxEvent

    try:
        pending = OutboxEvent.objects.using(alias).filter(delivered_at__isnull=True).exists()
    except DatabaseError:  # before migrate: no outbox table yet
        return
    if pending:
        schedule_delivery(alias)


def _deliver_logged(
    using: str, *, include_not_due: bool = False, deadline: float | None = None
) -> DeliveryReport | None:
    try:
        return deliver_pending(using=using, include_not_due=include_not_due, deadline=deadline)
    except Exception:  # never let delivery break the deleting request
        logger.exception("Delivering federation events failed.")
        return None


#: Shortest sleep between two passes (rows another process is sending look due).
MIN_WAIT = 0.25

#: The most an error message stored in ``OutboxEvent.last_error`` keeps.
ERROR_LENGTH = 1000


def _wait_until_due(due: Iterable[datetime | None], *, longest: float) -> float:
    """Return how long to sleep before the earliest of ``due`` (``None``: nothing pending).

    At least ``MIN_WAIT``, at most ``longest`` (which is also the wait when nothing is due).
    """
    times = [when for when in due if when is not None]
    if not times:
        return longest
    until = (min(times) - timezone.now()).total_seconds()
    return min(max(until, MIN_WAIT), longest)


def _failure_wait(failures: int) -> float:
    """Return the sleep after ``failures`` failed passes in a row (``backoff(failures)``)."""
    try:
        return backoff(failures).total_seconds()
    except ImproperlyConfigured:  # a broken settings change: retry at the default pace
        return min(float(DEFAULTS["RETRY_BACKOFF"]) * 2 ** min(failures - 1, 64),
                   float(DEFAULTS["RETRY_BACKOFF_MAX"]))


def _close_connections() -> None:
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


def _storable(text: str) -> str:
    """Return ``text`` as ``last_error`` can store it: no NUL (PostgreSQL refuses it), short.

    The peer's answer is part of the message: a message the database refuses would roll
    back the update of the rows, which would then be sent again and again.
    """
    return text.replace("\x00", "\\x00")[:ERROR_LENGTH]


class _BackgroundDelivery:
    """One delivery thread per process: new events wake it; it retries while any is pending.

    Each pass sends what is due (``deliver_pending``); then the thread sleeps until the
    next pending event is due (its backoff, ``RETRY_BACKOFF`` doubling up to
    ``RETRY_BACKOFF_MAX``), or until new events wake it, and stops once nothing is pending.
    Other processes of the server may deliver the same outbox at the same time: the rows
    are claimed, so each event is sent by one of them. At exit (``flush``) the thread ends
    after its current pass, within ``FLUSH_TIMEOUT``.
    """

    #: Shortest sleep between two passes (rows another process is sending look due).
    MIN_WAIT = MIN_WAIT

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
                    reports = [_deliver_logged(using, deadline=deadline)
                               for using in sorted(aliases)]
                    due = [_next_due(using) for using in sorted(aliases)]
                    pending = {using for using, when in zip(sorted(aliases), due) if when}
                    failed = None in reports
                    wait = _wait_until_due(due, longest=_max_backoff())
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
                    wait = _failure_wait(failures)
                if not pending or stopping:
                    continue
                if wait >= 1.0 or failures:
                    _close_connections()  # hold no (maybe broken) connection while asleep
                self._pause(wait)
        except Exception:  # not expected: every pass's own failures are caught above
            logger.exception("The federation delivery thread failed.")
            with self._lock:
                self._thread = None
                self._idle.set()
        finally:
            _close_connections()  # this thread's connections only

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


_background = _BackgroundDelivery()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_background._reset_after_fork)


def wait_for_delivery(timeout: float | None = None) -> bool:
    """Wait until this process's delivery thread sent what is due (tests, benchmarks)."""
    return _background.wait(timeout)


def flush(timeout: float | None = None) -> bool:
    """Deliver what this process committed before it exits, waiting at most ``timeout``.

    ``timeout`` defaults to ``FLUSH_TIMEOUT``. Called at interpreter exit, so a
    management command, a ``shell -c`` or a script that deleted objects delivers the
    events itself; a dead peer costs at most ``TIMEOUT`` per request and the whole
    wait at most ``timeout``. Return whether the delivery finished in time. Called before
    the exit, it stops nothing: the delivery thread goes on retrying what is pending.
    """
    return _flush(timeout, stop=False)


def _flush(timeout: float | None, *, stop: bool) -> bool:
    """Do ``flush``; ``stop`` (at exit only) also ends the thread and starts no other."""
    if _background.wait(0):
        if stop:
            _background.flush(0, stop=True)
        return True  # nothing is being sent (the usual exit: no thread, or it is asleep)
    if timeout is None:
        try:
            timeout = federated_settings.FLUSH_TIMEOUT
        except ImproperlyConfigured:
            timeout = 0
    if timeout <= 0:
        if stop:
            _background.flush(0, stop=True)
        return True
    finished = _background.flush(timeout, stop=stop)
    if not finished and stop:
        logger.warning(
            "Exiting before the federation events were delivered (FLUSH_TIMEOUT=%g s); they "
            "stay in the outbox.", timeout,
        )
    return finished


def _flush_at_exit() -> None:
    try:
        _flush(None, stop=True)
    except Exception:  # an exit must never fail because of delivery
        logger.exception("Flushing federation events at exit failed.")


atexit.register(_flush_at_exit)


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


def _pending(using: str, peers: Iterable[str] | None = None) -> Any:
    """Return the undelivered rows of ``using`` for the configured ``peers``."""
    from .models import OutboxEvent

    configured = set(federated_settings.PEERS)
    wanted = configured if peers is None else configured & set(peers)
    return OutboxEvent.objects.using(using).filter(
        delivered_at__isnull=True, peer__in=sorted(wanted)
    )


def _next_due(using: str, peers: Iterable[str] | None = None) -> datetime | None:
    """Return when the next pending event of ``using`` is due (``None``: nothing pending)."""
    return _pending(using, peers).order_by("next_attempt_at").values_list(
        "next_attempt_at", flat=True
    ).first()


def _claim(using: str, peer: str, *, due_by: datetime | None) -> list[Any]:
    """Lock and return the next batch of ``peer``'s pending rows (in a transaction).

    PostgreSQL (and the other databases that can) skips rows another worker has locked,
    so two workers never send one event; SQLite has one writer at a time, taken here
    before reading, so the other worker waits and then sees the rows delivered.
    """
    from .models import OutboxEvent

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


def _send_batch(
    peer: str, rows: list[Any], *, using: str, report: DeliveryReport
) -> str | None:
    from .models import OutboxEvent

    attempted_at = timezone.now()
    try:
        answer = resolver.send_events(peer, [row.as_event() for row in rows])
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
    from .models import OutboxEvent

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


# --- receiving -------------------------------------------------------------------------


def receive_events(
    sender: str, events: Iterable[Mapping[str, Any]], *, using: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Apply the events a peer sent, each id once; return the ids accepted.

    An event seen before is accepted again without being applied. A deletion applies the
    ``on_delete`` handlers of the local relations that point at the deleted object; if a
    handler raises, that event is not accepted (the peer sends it again later) and the
    others still are.
    """
    from .models import ReceivedEvent

    accepted: list[str] = []
    for event in events:
        try:
            event_id = str(uuid.UUID(str(event["id"])))
        except (KeyError, ValueError):
            logger.warning("Ignoring an event without a valid id from %r.", sender)
            continue
        if event.get("type") != EVENT_DELETED:
            logger.warning("Ignoring event %s of unknown type from %r.", event_id, sender)
            continue
        try:
            # No local row can point at a type this server has no row for: such an event
            # is recorded but applies nothing, and creates no type (a peer must not make
            # this server store the names it likes).
            content_type = _known_type(sender, event, using=using)
            with transaction.atomic(using=using):
                _record, created = ReceivedEvent.objects.using(using).get_or_create(
                    sender=sender,
                    event_id=event_id,
                    defaults={
                        "event_type": event["type"],
                        "app_label": event["app_label"],
                        "model": event["model"],
                        "object_pk": event["pk"],
                    },
                )
                if created and content_type is not None:
                    _apply_deletion(content_type, [event["pk"]], using=using)
        except Exception:
            logger.exception("Could not apply event %s from peer %r.", event_id, sender)
            continue
        accepted.append(event_id)
    return accepted


def _known_type(sender: str, event: Mapping[str, Any], *, using: str) -> Any:
    """Return the recorded type of ``sender`` that ``event`` names, ``None`` if none is.

    Every reference to a remote object goes through its ``GenericContentType`` row, so
    a type without a row has no references; it is looked up, never created.
    """
    from .models import GenericContentType

    app_label, model = event.get("app_label"), event.get("model")
    if not isinstance(app_label, str) or not isinstance(model, str):
        raise ValueError("An event names its type with two strings.")
    return GenericContentType.objects.db_manager(using).filter(
        project=sender, app_label=app_label, model=model.lower()
    ).first()


def _apply_deletion(content_type: Any, pks: list[str], *, using: str) -> None:
    handler = _deletion_handler()
    if handler is not None:
        handler(content_type, pks, using=using)
    resolver.mark_missing(content_type, pks)


def _deletion_handler() -> Any:
    """Return ``deletion.handle_remote_deletion`` once the many-to-many field provides it."""
    try:
        from . import deletion
    except ImportError:
        return None
    return getattr(deletion, "handle_remote_deletion", None)
