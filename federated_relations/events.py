"""Deletion events between servers: a durable outbox on the sender, idempotent receiving.

Sending: deleting an object of a model in ``EXPOSE``, by any path (a view, the admin,
``queryset.delete()``, ``manage.py shell``), writes one ``OutboxEvent`` per peer of
``PEERS`` from ``post_delete``, so in the deleting transaction: the event exists exactly
when the deletion committed. After the commit, a background thread delivers what is due,
signed, to each peer (``deliver_pending``), retrying with backoff for about five minutes;
what is still pending later is delivered by the next delivery or by ``manage.py
federation_deliver``. Where the project configures Django's Tasks framework (``TASKS``),
the delivery and its retries are enqueued as tasks instead (``tasks.deliver_outbox``).
Delivery never blocks, fails or rolls back the deletion.

Receiving: ``receive_events(sender, events)`` (called by the ``events/`` view) applies
each event id once per sender: it records a ``ReceivedEvent``, tells the resolver that
the object is gone (the cache remembers it missing and ``remote_deleted`` is sent once)
and applies the ``on_delete`` handlers of the local relations pointing at it
(``deletion.handle_remote_deletion``), all in one transaction, so an event whose handler
fails is not accepted and comes again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models.signals import post_delete
from django.utils import timezone

from . import resolver
from .conf import federated_settings
from .exceptions import FederationError
from .keys import pk_to_string

__all__ = [
    "EVENT_DELETED",
    "DeliveryReport",
    "backoff",
    "connect_receivers",
    "deliver_pending",
    "receive_events",
    "schedule_delivery",
    "wait_for_delivery",
]

logger = logging.getLogger("federated_relations")

EVENT_DELETED = "deleted"

#: Events sent to a peer per request (the client splits further by the peer's cap).
BATCH_SIZE = 100
#: Seconds between the attempts of a background delivery (about five minutes in all); then
#: it leaves the rest to the next delivery or to ``manage.py federation_deliver``.
BACKGROUND_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 60.0, 60.0, 60.0)
#: Upper bound of the backoff between two attempts of one event, in seconds.
MAX_BACKOFF = 3600

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


def _deliver_logged(using: str, *, include_not_due: bool = False) -> DeliveryReport | None:
    try:
        return deliver_pending(using=using, include_not_due=include_not_due)
    except Exception:  # never let delivery break the deleting request
        logger.exception("Delivering federation events failed.")
        return None


class _BackgroundDelivery:
    """One delivery thread per process; new events wake it, failures are retried.

    Each attempt sends every pending event of the database, whatever its backoff says:
    this thread keeps its own schedule (``BACKGROUND_RETRY_DELAYS``), and new events cut a
    wait short. Once the delays are used up it stops, leaving the rest to the next
    deletion or to ``manage.py federation_deliver``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._new: set[str] = set()
        self._wake = threading.Event()

    def start(self, using: str) -> None:
        with self._lock:
            self._new.add(using)
            self._wake.set()
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run, name="federated-relations-outbox", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        failing: set[str] = set()
        attempt = 0
        try:
            while True:
                with self._lock:
                    new, self._new = self._new, set()
                    self._wake.clear()
                    aliases = failing | new
                    if not aliases:
                        self._thread = None
                        return
                if new:
                    attempt = 0
                failing = set()
                for using in sorted(aliases):
                    report = _deliver_logged(using, include_not_due=True)
                    if report is None or report.failed:
                        failing.add(using)
                if not failing:
                    continue
                if attempt >= len(BACKGROUND_RETRY_DELAYS):
                    failing = set()  # give up until something new happens
                    continue
                self._wake.wait(BACKGROUND_RETRY_DELAYS[attempt])
                attempt += 1
        finally:
            connections.close_all()  # this thread's connections only

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no delivery runs; return whether it finished within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                thread = self._thread
            if thread is None or not thread.is_alive():
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            thread.join(0.05 if remaining is None else min(0.05, remaining))


_background = _BackgroundDelivery()


def wait_for_delivery(timeout: float | None = None) -> bool:
    """Wait for the background delivery of this process (tests, graceful shutdown)."""
    return _background.wait(timeout)


@dataclass
class DeliveryReport:
    """What one ``deliver_pending`` call did: event ids per peer."""

    delivered: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def delivered_count(self) -> int:
        """Return how many (event, peer) rows were delivered."""
        return sum(len(ids) for ids in self.delivered.values())


def backoff(attempts: int) -> timedelta:
    """Return the delay before the next attempt of an event tried ``attempts`` times."""
    return timedelta(seconds=min(2 ** max(attempts, 0), MAX_BACKOFF))


def deliver_pending(
    *,
    using: str = DEFAULT_DB_ALIAS,
    peers: Iterable[str] | None = None,
    include_not_due: bool = False,
    now: datetime | None = None,
) -> DeliveryReport:
    """Send the due events of the outbox to their peers; return what was delivered.

    Each peer gets its events in batches of ``BATCH_SIZE``; the ids it accepts are marked
    delivered, the others are retried later with exponential backoff. ``include_not_due``
    also sends events whose next attempt is not due yet (``federation_deliver --all``).
    Events for a peer that is no longer in ``PEERS`` stay pending.
    """
    from .models import OutboxEvent

    now = now or timezone.now()
    report = DeliveryReport()
    configured = set(federated_settings.PEERS)
    wanted = configured if peers is None else configured & set(peers)
    pending = OutboxEvent.objects.using(using).filter(
        delivered_at__isnull=True, peer__in=sorted(wanted)
    )
    if not include_not_due:
        pending = pending.filter(next_attempt_at__lte=now)
    by_peer: dict[str, list[OutboxEvent]] = defaultdict(list)
    for row in pending.order_by("pk"):
        by_peer[row.peer].append(row)
    for peer, rows in by_peer.items():
        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start:start + BATCH_SIZE]
            error = _send_batch(peer, batch, using=using, report=report)
            if error is not None:
                report.failed[peer] = error
                break  # the next batches would fail the same way
    return report


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
            last_error=(error or "")[:1000],
        )
    if error is not None:
        logger.warning("Could not deliver %d event(s) to peer %r: %s", len(refused), peer, error)
    return error


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
    from .models import GenericContentType, ReceivedEvent

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
                if created:
                    content_type = GenericContentType.objects.db_manager(using).get_for_remote(
                        sender, event["app_label"], event["model"]
                    )
                    _apply_deletion(content_type, [event["pk"]], using=using)
        except Exception:
            logger.exception("Could not apply event %s from peer %r.", event_id, sender)
            continue
        accepted.append(event_id)
    return accepted


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
