"""Deletion events between servers: recorded in the sender's outbox, applied once on receipt.

Sending: deleting an object of a model in ``EXPOSE``, by any path (a view, the admin,
``queryset.delete()``, ``manage.py shell``), writes one ``OutboxEvent`` per peer of
``PEERS`` from ``post_delete``, so in the deleting transaction: the event exists exactly
when the deletion committed. After the commit, the delivery starts: this process's
delivery thread (``outbox.background``), which keeps retrying with backoff for as long as
events are pending, or, where the project configures Django's Tasks framework
(``TASKS``), a task (``tasks.deliver_outbox``). A process that exits first delivers at
exit, within ``FLUSH_TIMEOUT`` (``flush``). Delivery never blocks, fails or rolls back
the deletion; how events are sent is ``outbox``'s.

Receiving: ``receive_events(sender, events)`` (called by the ``events/`` view) applies
each event id once per sender: it records a ``ReceivedEvent``, tells the cache that
the object is gone (it remembers it missing and ``remote_deleted`` is sent once)
and applies the ``on_delete`` handlers of the local relations pointing at it and the
``on_remote_delete`` of the ``FederatedForeignKey`` rows (``deletion.handle_remote_deletion``),
all in one transaction, so an event whose handler fails is not accepted and comes again.
An event naming a type this server has no ``GenericContentType`` row for is recorded and
applies nothing: no row can point at it, and no type is created for it.

This module imports models at its top: only ``AppConfig.ready()`` and the modules loaded
after it (views, management commands) import it.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from django.db.models.signals import post_delete

from . import outbox, peers, registry, tasks
from .conf import federated_settings, on_reload
from .deletion import handle_remote_deletion
from .keys import pk_to_string
from .models import GenericContentType, OutboxEvent, ReceivedEvent

if TYPE_CHECKING:
    from django.db.models.options import Options
from .protocol import EVENT_DELETED

__all__ = [
    "EVENT_DELETED",
    "apply_deletion",
    "connect_receivers",
    "deliver_in_foreground",
    "flush",
    "receive_events",
    "schedule_delivery",
    "wait_for_delivery",
]

logger = logging.getLogger("federated_relations")

#: Deliver in a background thread after commit (False: in the committing thread, which
#: unit tests on in-memory databases need, since other threads see another database).
DELIVER_IN_BACKGROUND = True


# --- sending ---------------------------------------------------------------------------


def _exposed_models() -> list[Any]:
    """Return the exposed models and their proxies (a proxy's delete has its own sender).

    A label naming no installed model matches nothing here: the checks report it (E402).
    """
    labels = registry.exposed_labels()
    return [model for model in apps.get_models()
            if _concrete_opts(model).label_lower in labels]


def _concrete_opts(model: Any) -> Options:
    """Return the ``Options`` of a model's concrete model (a proxy's delete has its own)."""
    return cast("type[models.Model]", model._meta.concrete_model)._meta


_connected: list[Any] = []


def connect_receivers() -> None:
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


@on_reload
def _reconnect_receivers() -> None:
    if apps.ready:
        try:
            connect_receivers()
        except ImproperlyConfigured:
            pass  # reported by the checks and by the next read of the settings


def record_deletion(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
    """Write a deletion event for every peer in the deleting transaction (``post_delete``)."""
    peer_names = federated_settings.PEERS
    if not peer_names:
        return
    opts = _concrete_opts(sender)
    if opts.label_lower not in registry.exposed_labels():
        return
    event_id = uuid.uuid4()
    pk = cast(str, pk_to_string(opts.pk, instance.pk))  # a deleted row had a pk
    OutboxEvent.objects.using(using).bulk_create(
        [
            OutboxEvent(
                event_id=event_id,
                peer=peer,
                event_type=EVENT_DELETED,
                app_label=opts.app_label,
                model=opts.model_name or "",  # a concrete model has a name
                object_pk=pk,
            )
            for peer in sorted(peer_names)
        ]
    )
    schedule_delivery(using)


class _DeliveryHook:
    """The on-commit callback of a transaction that recorded events (one per transaction)."""

    def __init__(self, using: str) -> None:
        self.using = using

    def __call__(self) -> None:
        if tasks.tasks_configured():
            try:
                tasks.deliver_outbox.enqueue(self.using)
            except Exception:  # never let delivery break the deleting request
                logger.exception("Enqueuing the delivery of federation events failed.")
        elif DELIVER_IN_BACKGROUND:
            outbox.background.start(self.using)
        else:
            outbox.deliver_or_log(self.using)


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
    try:
        pending = OutboxEvent.objects.using(alias).filter(delivered_at__isnull=True).exists()
    except DatabaseError:  # before migrate: no outbox table yet
        return
    if pending:
        schedule_delivery(alias)


def deliver_in_foreground(alias: str) -> None:
    """Leave ``alias``'s outbox to the caller: no delivery is resumed in the background.

    ``federation_deliver`` delivers the outbox itself; a resume started by its first
    connection would race it and take the events it reports on.
    """
    with _resumed_lock:
        _resumed.add(alias)


def wait_for_delivery(timeout: float | None = None) -> bool:
    """Wait until this process's delivery thread sent what is due (tests, benchmarks)."""
    return outbox.background.wait(timeout)


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
    background = outbox.background
    if background.wait(0):
        if stop:
            background.flush(0, stop=True)
        return True  # nothing is being sent (the usual exit: no thread, or it is asleep)
    if timeout is None:
        try:
            timeout = federated_settings.FLUSH_TIMEOUT
        except ImproperlyConfigured:
            timeout = 0
    if timeout <= 0:
        if stop:
            background.flush(0, stop=True)
        return True
    finished = background.flush(timeout, stop=stop)
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
                    apply_deletion(content_type, [event["pk"]], using=using)
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
    app_label, model = event.get("app_label"), event.get("model")
    if not isinstance(app_label, str) or not isinstance(model, str):
        raise ValueError("An event names its type with two strings.")
    return GenericContentType.objects.db_manager(using).filter(
        project=sender, app_label=app_label, model=model.lower()
    ).first()


def apply_deletion(content_type: Any, pks: list[str], *, using: str) -> None:
    """Apply what the deletion of these remote objects means here, and remember them gone.

    The ``on_delete`` handlers of the local relations that point at them run first
    (``deletion.handle_remote_deletion``); then the cache marks them missing, which sends
    ``remote_deleted`` once per object. ``manage.py federation_audit --apply`` does the
    same for the dangling references it finds.
    """
    handle_remote_deletion(content_type, pks, using=using)
    peers.mark_missing(content_type, pks)
