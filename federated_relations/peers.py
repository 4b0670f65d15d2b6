"""Asking peers: the remote-object cache, the fan-out to peers, discovery and events.

What is known of a remote object is its *state*: the peer's entry (``{"pk", "str",
"fields"}``), ``MISSING`` when the peer said it does not exist, or the
``FederationError`` that prevented asking. States come from the Django cache
(``CACHE_ALIAS``) when it knows them, found or missing; the rest is asked of each peer
with one batched request per (peer, type, page), different peers in parallel on a thread
pool, so a cold resolution costs about one round trip of the slowest peer. Resolutions
that want the same page at the same time, in any thread or worker of the server, send
one request (*single flight*): the first takes a short lock in the cache and asks; the
others wait for its answer there. The client
returns only answers that the protocol's validator passed (one that does not match the
question is a ``ProtocolError``), so what is cached is well-formed. Nothing here builds
objects or touches local rows: ``objects`` turns states into ``RemoteObject``s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.cache import caches

from .client import FederationClient, get_client, shared_cache, shared_key
from .conf import federated_settings
from .exceptions import FederationError, PeerAuthError, PeerUnavailable, ProtocolError
from .protocol import DEFAULT_MAX_BATCH, Entry
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

#: Seconds a waiting resolution first sleeps between two looks at the cache; doubled
#: after each look, up to the second.
POLL_FIRST, POLL_MAX = 0.005, 0.1

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
    return shared_key(content_type.project, content_type.app_label, content_type.model,
                      pk_string)


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

    With ``fresh`` the cache is not read (it is still written) and the peer is asked now,
    without waiting for another resolution's answer: ``check_existence`` wants the peer's
    word of this moment, before a reference is stored. A cache that fails is taken as
    empty.
    """
    known: dict[tuple[GenericContentType, str], State] = {}
    wanted: dict[str, tuple[GenericContentType, str]] = {}
    for content_type, pks in pks_by_type.items():
        _check_remote(content_type)
        for pk in pks:
            wanted[cache_key(content_type, pk)] = (content_type, pk)
    caching = bool(federated_settings.CACHE_TTL)
    if not fresh and caching:
        found: dict[str, State] = shared_cache(
            lambda cache: cache.get_many(list(wanted)), {}
        )
        for key, value in found.items():
            known[wanted.pop(key)] = value
    unknown: dict[GenericContentType, list[str]] = defaultdict(list)
    for content_type, pk in wanted.values():
        unknown[content_type].append(pk)
    if not unknown:
        return known
    if fresh or not caching:
        # Without a cache, waiters would never find the holder's answer.
        _ask(unknown, known)
    else:
        _single_flight(unknown, known)
    return known


def _ask(
    pks_by_type: Mapping[GenericContentType, list[str]],
    known: dict[tuple[GenericContentType, str], State],
) -> None:
    """Ask the peers for these pks (each peer on its own thread); cache and note the answers."""
    asked: dict[str, dict[GenericContentType, list[str]]] = defaultdict(dict)
    for content_type, pks in pks_by_type.items():
        asked[content_type.project][content_type] = pks
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
            _remember(content_type, {**entries, **newly_missing})
            known.update(((content_type, pk), entry) for pk, entry in entries.items())
            known.update(((content_type, pk), MISSING) for pk in missing)
            for pk in sorted(missing):
                _signal_deleted(content_type, pk)


@dataclass(eq=False)
class _Flight:
    """One page of one type's pks that a resolution asks its peer for, or waits for.

    ``lock`` is its key in the cache, held by the resolution asking the peer (the value is
    that resolution's token); ``seen`` is the holder's token a waiter last saw there.
    """

    content_type: GenericContentType
    pks: list[str]
    lock: str
    token: str
    seen: str | None = None

    @property
    def failed(self) -> str:
        """Key of the holder's error, ``(its token, the FederationError)``."""
        return self.lock + ":failed"


def _single_flight(
    pks_by_type: Mapping[GenericContentType, list[str]],
    known: dict[tuple[GenericContentType, str], State],
) -> None:
    """Ask the peers for the pages no other resolution is asking for; wait for the others.

    A page is the sorted pks of one type in slices of its peer's batch size, as the client
    sends them, so concurrent resolutions of one page lock one key. A waiter looks at the
    cache with a growing pause: the holder caches the answer, then deletes its lock; a
    holder that failed records its error first, and its waiters fail the same way. A lock
    gone without either (its holder died, or the cache lost the entries) is taken over.
    After ``TIMEOUT`` of waiting a resolution asks for the rest itself: it never waits
    longer than that plus its own request.
    """
    token = uuid.uuid4().hex
    waiting = [
        _Flight(content_type, page, _lock_key(content_type, page), token)
        for content_type, pks in pks_by_type.items()
        for page in _pages(content_type, pks)
    ]
    lock_timeout = math.ceil(2 * federated_settings.TIMEOUT) + 1
    deadline = _clock() + federated_settings.TIMEOUT
    pause = POLL_FIRST
    free = waiting  # the pages whose locks look free: all of them at first
    while True:
        held = [flight for flight in free if _take(flight.lock, token, lock_timeout)]
        if held:
            _ask_holding(held, known, lock_timeout)
            waiting = [flight for flight in waiting if flight not in held]
            if not waiting:
                return
        waiting, free = _look(waiting, known)
        if not waiting:
            return
        if _clock() >= deadline:
            _ask(_by_type(waiting), known)
            return
        if not free:
            _sleep(min(pause, max(0.0, deadline - _clock())))
            pause = min(2 * pause, POLL_MAX)


def _take(lock: str, token: str, timeout: int) -> bool:
    """Take ``lock`` for ``timeout`` seconds; a failing cache lets every resolution ask."""
    return bool(shared_cache(lambda cache: cache.add(lock, token, timeout=timeout), True))


def _ask_holding(
    held: list[_Flight], known: dict[tuple[GenericContentType, str], State], timeout: int
) -> None:
    """Ask for the pages whose locks this resolution holds; record failures; release them."""
    try:
        # Another resolution may have cached the page between our read and our lock. Its
        # first pk tells (a page is cached by one set_many); the rest is read only then.
        firsts = [cache_key(flight.content_type, flight.pks[0]) for flight in held]
        probed: dict[str, State] = shared_cache(lambda cache: cache.get_many(firsts), {})
        cached = [flight for flight, key in zip(held, firsts) if key in probed]
        asked = [flight for flight in held if flight not in cached] + _look_up(cached, known)
        if asked:
            _ask(_by_type(asked), known)
    finally:
        failures = {
            flight.failed: (flight.token, state)
            for flight in held
            if isinstance(state := known.get((flight.content_type, flight.pks[0])),
                          FederationError)
        }
        if failures:
            shared_cache(lambda cache: cache.set_many(failures, timeout=timeout), None)
        shared_cache(lambda cache: cache.delete_many([flight.lock for flight in held]), None)


def _look(
    waiting: list[_Flight], known: dict[tuple[GenericContentType, str], State]
) -> tuple[list[_Flight], list[_Flight]]:
    """Note the pages whose holders are done; return the others, and those of them whose
    lock is free (released without an answer, or expired: to be taken over at once)."""
    keys = [key for flight in waiting for key in (flight.lock, flight.failed)]
    found = shared_cache(lambda cache: cache.get_many(keys), None)
    if found is None:  # the cache fails: each resolution asks for itself
        return waiting, waiting
    awaited, released = [], []
    for flight in waiting:
        if flight.lock in found:
            flight.seen = found[flight.lock]
            awaited.append(flight)
            continue
        token, error = found.get(flight.failed, (None, None))
        if flight.seen is not None and token == flight.seen:
            known.update(((flight.content_type, pk), error) for pk in flight.pks)
        else:
            released.append(flight)
    free = _look_up(released, known)
    return awaited + free, free


def _look_up(
    flights: list[_Flight], known: dict[tuple[GenericContentType, str], State]
) -> list[_Flight]:
    """Note the pages that are all in the cache; return the others."""
    if not flights:
        return []
    keys = [cache_key(flight.content_type, pk) for flight in flights for pk in flight.pks]
    cached: dict[str, State] = shared_cache(lambda cache: cache.get_many(keys), {})
    absent = []
    for flight in flights:
        answer = {pk: cached.get(cache_key(flight.content_type, pk)) for pk in flight.pks}
        if None in answer.values():
            absent.append(flight)
        else:
            known.update(((flight.content_type, pk), state) for pk, state in answer.items())
    return absent


def _lock_key(content_type: GenericContentType, page: list[str]) -> str:
    """Return the single-flight lock of one page: its peer, type and pk set."""
    pks = hashlib.sha256(json.dumps(page).encode()).hexdigest()
    return shared_key("lock", content_type.project, content_type.app_label,
                      content_type.model, pks)


def _pages(content_type: GenericContentType, pks: list[str]) -> list[list[str]]:
    """Return the sorted ``pks`` in slices of the peer's batch size (the client's pages)."""
    try:
        size = _client(content_type.project).page_size()
    except FederationError:  # not configured: asking it will say so
        size = DEFAULT_MAX_BATCH
    ordered = sorted(pks)
    return [ordered[start:start + size] for start in range(0, len(ordered), size)]


def _by_type(flights: list[_Flight]) -> dict[GenericContentType, list[str]]:
    """Return the pks of these pages by type, in page order (the client pages them alike)."""
    pks: dict[GenericContentType, list[str]] = defaultdict(list)
    for flight in flights:
        pks[flight.content_type].extend(flight.pks)
    return pks


#: The clock and the pause of waiting resolutions (the tests replace both).
_clock = time.monotonic
_sleep = time.sleep


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


def _remember(content_type: GenericContentType, states: Mapping[str, Any]) -> None:
    """Cache what a peer answered, unless the cache fails (then it is asked again later)."""
    shared_cache(lambda _cache: cache_states(content_type, states), None)


def _signal_deleted(content_type: GenericContentType, pk_string: str) -> None:
    """Send ``remote_deleted`` unless it was sent for this object within ``CACHE_TTL``.

    While the cache fails it is sent each time: rather twice than never.
    """
    timeout = federated_settings.CACHE_TTL or 300
    key = cache_key(content_type, pk_string) + ":deleted"
    if shared_cache(lambda cache: cache.add(key, True, timeout=timeout), True):
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
