"""Asking peers: the remote-object cache, the fan-out to peers, discovery and events.

What is known of a remote object is its *state*: the peer's entry (``{"pk", "str",
"fields"}``), ``MISSING`` when the peer said it does not exist, or the
``FederationError`` that prevented asking. States come from the Django cache
(``CACHE_ALIAS``) when it knows them, found or missing; the rest is asked of each peer
with one batched request per (peer, type, page), different peers in parallel on a thread
pool, so a cold resolution costs about one round trip of the slowest peer. The client
returns only answers that the protocol's validator passed (one that does not match the
question is a ``ProtocolError``), so what is cached is well-formed. Nothing here builds
objects or touches local rows: ``objects`` turns states into ``RemoteObject``s.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from django.core.cache import caches

from .client import FederationClient, get_client
from .conf import federated_settings
from .exceptions import FederationError, PeerAuthError, PeerUnavailable, ProtocolError
from .protocol import Entry
from .signals import remote_deleted

if TYPE_CHECKING:
    from .models import GenericContentType

__all__ = [
    "MAX_PARALLEL_PEERS",
    "MISSING",
    "cache_key",
    "cache_states",
    "check_events",
    "check_existence",
    "discover",
    "forget",
    "is_missing",
    "list_page",
    "mark_missing",
    "raise_if_asked",
    "send_events",
    "start_listing",
    "states",
]

logger = logging.getLogger("federated_relations")

#: At most this many peers are asked at the same time by one resolution.
MAX_PARALLEL_PEERS = 8

#: What the cache holds for a pk the peer reported missing.
MISSING = {"missing": True}

_CACHE_PREFIX = "federated_relations:v1"
_SAFE_KEY_PART = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# What is known of one pk: an entry, MISSING, or the error that prevented asking.
State = Any
#: One validated page of a listing: its ``(pk string, entry)`` pairs and the next cursor.
Page = tuple[list[tuple[str, Entry]], "str | None"]


def discover(peer: str, *, fresh: bool = False) -> dict[str, Any]:
    """Return the peer's discovery document (its exposed types).

    The shared client asks once per process; ``fresh`` asks now, with a client of its own
    (``federation_check``: is the peer reachable and does it accept our signature today?).
    """
    if fresh:
        client = FederationClient(peer)
        try:
            return client.discover()
        finally:
            client.close()
    return _client(peer).discover()


def check_existence(
    content_type: GenericContentType, pks: Iterable[Any]
) -> tuple[set[str], dict[str, FederationError]]:
    """Ask the peer now (not the cache) which of these objects exist.

    Return the pk strings the peer says are missing and, for the pks it could not be
    asked about, the error; an object is only ever called missing on the peer's word.
    """
    known = states({content_type: {str(pk) for pk in pks}}, fresh=True)
    missing = {pk for (_ct, pk), state in known.items() if is_missing(state)}
    errors = {
        pk: state for (_ct, pk), state in known.items() if isinstance(state, FederationError)
    }
    return missing, errors


def check_events(peer: str) -> None:
    """Ask ``peer`` now, with a client of its own, whether it takes events (for checks)."""
    client = FederationClient(peer)
    try:
        client.check_events()
    finally:
        client.close()


def send_events(peer: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Deliver events to ``peer``; return ``{"accepted": [event ids]}`` (``outbox`` uses it)."""
    return _client(peer).send_events(events)


def forget(content_type: GenericContentType, pks: Iterable[Any]) -> None:
    """Drop what the cache knows of these remote objects."""
    cache = _cache()
    cache.delete_many([cache_key(content_type, str(pk)) for pk in pks])


def mark_missing(content_type: GenericContentType, pks: Iterable[Any]) -> None:
    """Record that these remote objects no longer exist (a deletion event said so).

    The cache remembers them as missing and ``remote_deleted`` is sent for each, once.
    """
    pk_strings = {str(pk) for pk in pks}
    cache_states(content_type, dict.fromkeys(pk_strings, MISSING))
    for pk in sorted(pk_strings):
        _signal_deleted(content_type, pk)


def cache_key(content_type: GenericContentType, pk_string: str) -> str:
    """Return the cache key of one remote object: its project, type and pk.

    Type ids differ between databases, so the key uses the natural key. Parts that are not
    safe in every cache backend's keys (memcached: no spaces, at most 250 characters) are
    replaced by their SHA-256.
    """
    parts = [content_type.project, content_type.app_label, content_type.model, pk_string]
    safe = [
        part if _SAFE_KEY_PART.match(part) else hashlib.sha256(part.encode()).hexdigest()
        for part in parts
    ]
    return ":".join([_CACHE_PREFIX, *safe])


def is_missing(state: State) -> bool:
    """Whether ``state`` says the peer reported the object missing."""
    return state is MISSING or state == MISSING


def raise_if_asked(found: Iterable[State]) -> None:
    """Raise the first error among ``found`` when ``ON_REMOTE_ERROR`` is ``"raise"``."""
    if federated_settings.ON_REMOTE_ERROR != "raise":
        return
    for state in found:
        if isinstance(state, FederationError):
            raise state


def list_page(
    content_type: GenericContentType,
    *,
    cursor: str | None = None,
    filters: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> Page:
    """Ask the peer for one page of a listing now, and cache what it holds."""
    _check_remote(content_type)
    answer = _client(content_type.project).list(
        content_type.app_label,
        content_type.model,
        cursor=cursor,
        filters=dict(filters or {}),
        limit=limit,
    )
    return read_page(content_type, answer)


def read_page(content_type: GenericContentType, answer: Mapping[str, Any]) -> Page:
    """Cache the entries of one listing page of ``content_type``'s peer (``client.list()``)."""
    entries = [(str(entry["pk"]), entry) for entry in answer["objects"]]
    cache_states(content_type, dict(entries))
    return entries, answer["next"]


def start_listing(
    content_type: GenericContentType, *, cursor: str | None, search: str, limit: int
) -> Future[Any]:
    """Ask the peer for one page of a search on the shared pool; the future gives its answer.

    Only HTTP happens in the worker thread (the client validates the answer there);
    ``read_page`` caches it in the caller's.
    """
    _check_remote(content_type)
    return _executor().submit(_list, content_type, cursor, search, limit)


def states(
    pks_by_type: Mapping[GenericContentType, set[str]], *, fresh: bool = False
) -> dict[tuple[GenericContentType, str], State]:
    """Return what is known of each (type, pk string): from the cache, else from its peer.

    With ``fresh`` the cache is not read (it is still written).
    """
    known: dict[tuple[GenericContentType, str], State] = {}
    cache = _cache()
    wanted: dict[str, tuple[GenericContentType, str]] = {}
    for content_type, pks in pks_by_type.items():
        _check_remote(content_type)
        for pk in pks:
            wanted[cache_key(content_type, pk)] = (content_type, pk)
    if not fresh and federated_settings.CACHE_TTL:
        for key, value in cache.get_many(list(wanted)).items():
            known[wanted.pop(key)] = value
    asked: dict[str, dict[GenericContentType, list[str]]] = defaultdict(lambda: defaultdict(list))
    for content_type, pk in wanted.values():
        asked[content_type.project][content_type].append(pk)
    if not asked:
        return known
    if len(asked) == 1:
        ((peer, groups),) = asked.items()
        answers = {peer: _ask_peer(peer, groups)}
    else:
        executor = _executor()
        futures = {
            peer: executor.submit(_ask_peer, peer, groups) for peer, groups in asked.items()
        }
        answers = {peer: future.result() for peer, future in futures.items()}
    for peer_answers in answers.values():
        for content_type, (entries, missing, error) in peer_answers.items():
            asked_pks = asked[content_type.project][content_type]
            if error is not None:
                logger.warning(
                    "Could not read %d %s.%s object(s) of peer %r: %s",
                    len(asked_pks), content_type.app_label, content_type.model,
                    content_type.project, error,
                )
                known.update(((content_type, pk), error) for pk in asked_pks)
                continue
            newly_missing = dict.fromkeys(missing, MISSING)
            cache_states(content_type, {**entries, **newly_missing})
            known.update(((content_type, pk), entry) for pk, entry in entries.items())
            known.update(((content_type, pk), MISSING) for pk in missing)
            for pk in sorted(missing):
                _signal_deleted(content_type, pk)
    return known


# --- internals -------------------------------------------------------------------------


GroupAnswer = tuple[dict[str, Entry], set[str], FederationError | None]


def _ask_peer(
    peer: str, groups: Mapping[GenericContentType, list[str]]
) -> dict[GenericContentType, GroupAnswer]:
    """Ask one peer for each of its types, one after the other (runs in a worker thread).

    Only HTTP happens here: no database and no cache, which belong to the calling thread.
    Once the peer is unreachable or refuses us, its remaining types are not asked.
    """
    results: dict[GenericContentType, GroupAnswer] = {}
    fatal: FederationError | None = None
    client = None
    try:
        client = _client(peer)
    except FederationError as error:
        fatal = error
    for content_type, pks in groups.items():
        if client is None:
            results[content_type] = ({}, set(), PeerUnavailable(
                f"Cannot read {content_type.app_label}.{content_type.model} objects of "
                f"project {peer!r}: {fatal}"
            ))
            continue
        if fatal is not None:
            results[content_type] = ({}, set(), fatal)
            continue
        try:
            answer = client.fetch(content_type.app_label, content_type.model, sorted(pks))
        except (PeerUnavailable, PeerAuthError) as error:
            fatal = error
            results[content_type] = ({}, set(), error)
        except FederationError as error:
            results[content_type] = ({}, set(), error)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # A hostile answer must end as a ProtocolError, not deep in the caller.
            results[content_type] = ({}, set(), ProtocolError(f"Peer {peer!r}: {error}"))
        else:
            entries = {str(entry["pk"]): entry for entry in answer["objects"]}
            results[content_type] = (entries, set(answer["missing"]), None)
    return results


def cache_states(content_type: GenericContentType, states: Mapping[str, Any]) -> None:
    """Remember these states of ``content_type``'s objects for ``CACHE_TTL`` seconds."""
    ttl = federated_settings.CACHE_TTL
    if ttl and states:
        _cache().set_many(
            {cache_key(content_type, pk): state for pk, state in states.items()}, timeout=ttl
        )


def _signal_deleted(content_type: GenericContentType, pk_string: str) -> None:
    """Send ``remote_deleted`` unless it was sent for this object within ``CACHE_TTL``."""
    timeout = federated_settings.CACHE_TTL or 300
    if _cache().add(cache_key(content_type, pk_string) + ":deleted", True, timeout=timeout):
        remote_deleted.send(sender=content_type, pk=pk_string)


def _check_remote(content_type: GenericContentType) -> None:
    if content_type.resolves_locally:
        raise ValueError(f"{content_type} is resolved locally, not by a peer.")


def _cache() -> Any:
    return caches[federated_settings.CACHE_ALIAS]


def _list(content_type: GenericContentType, cursor: str | None, search: str, limit: int) -> Any:
    """Ask one peer for one page of a search (runs in a worker thread: HTTP only)."""
    return _client(content_type.project).list(
        content_type.app_label, content_type.model, cursor=cursor, limit=limit, search=search
    )


def _client(peer: str) -> FederationClient:
    return get_client(peer)


_executor_lock = threading.Lock()
_executor_instance: Executor | None = None


def _executor() -> Executor:
    """Return the process-wide pool that asks different peers at the same time."""
    global _executor_instance
    with _executor_lock:
        if _executor_instance is None:
            _executor_instance = ThreadPoolExecutor(
                max_workers=MAX_PARALLEL_PEERS, thread_name_prefix="federated-relations"
            )
        return _executor_instance
