"""The resolver core shared by every federated field: references in, objects out.

References are grouped by type. Types that resolve locally (this project's, or the
reserved ``"shared"`` project's) are loaded with one ORM query per type. The others are
grouped by peer (the type's project): what the Django cache (``CACHE_ALIAS``) already
knows, found or missing, costs nothing; the rest is asked of each peer with one batched
request per (peer, type, page), different peers in parallel on a thread pool, so a cold
prefetch costs about one round trip of the slowest peer. Answers are validated here too:
an answer that does not match the question is a ``ProtocolError`` and is never cached.

Failures follow ``ON_REMOTE_ERROR``: ``"placeholder"`` gives placeholder ``RemoteObject``s
(``is_available`` false, ``str()`` says "unavailable"), ``"raise"`` raises the
``FederationError``. Nothing here writes a local row: remote data only ever goes to the
cache and into ``RemoteObject``s. Fields, ``RemoteObject`` and ``RemoteModel`` get remote
data only through this module, never from ``client`` directly.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.db import models

from .conf import federated_settings
from .exceptions import (
    FederationError,
    PeerAuthError,
    PeerUnavailable,
    ProtocolError,
    RemoteObjectDoesNotExist,
)
from .keys import pk_to_string
from .signals import remote_deleted

if TYPE_CHECKING:
    from .models import GenericContentType
    from .remote import RemoteObject

__all__ = [
    "MAX_PARALLEL_PEERS",
    "ObjectKey",
    "PendingSearch",
    "cache_key",
    "check_events",
    "check_existence",
    "content_type_of",
    "discover",
    "forget",
    "get_object",
    "get_target",
    "iterate",
    "key_function",
    "key_of",
    "load",
    "mark_missing",
    "reference",
    "resolve",
    "search",
    "send_events",
    "start_search",
]

logger = logging.getLogger("federated_relations")

#: How resolved objects are matched to references: (type id, canonical pk string).
ObjectKey = tuple[int, str]

#: At most this many peers are asked at the same time by one resolution.
MAX_PARALLEL_PEERS = 8

#: What the cache holds for a pk the peer reported missing.
_MISSING_MARKER = {"missing": True}

_CACHE_PREFIX = "federated_relations:v1"
_SAFE_KEY_PART = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# One entry of a peer's answer: {"pk": int | str, "str": str, "fields": {name: value}}.
Entry = dict[str, Any]
# What is known of one pk: an entry, _MISSING_MARKER, or the error that prevented asking.
State = Any


def content_type_of(
    obj: Any, *, for_concrete_model: bool = True, using: str | None = None
) -> GenericContentType:
    """Return the type of a model instance (this project's) or of a remote object."""
    type_model = _type_model()
    if isinstance(obj, models.Model):
        return type_model.objects.db_manager(using or obj._state.db).get_for_model(
            obj, for_concrete_model=for_concrete_model
        )
    content_type = getattr(obj, "content_type", None)
    if isinstance(content_type, type_model):
        return content_type
    raise TypeError(f"{obj!r} is neither a model instance nor a remote object.")


def key_of(content_type: GenericContentType, pk: Any) -> ObjectKey:
    """Return the key that matches an object of ``content_type`` with primary key ``pk``."""
    # .id, not the .pk property: this runs for every reference of a prefetch.
    if pk is None:  # matches no object
        return (content_type.id, None)  # type: ignore[return-value]
    model = content_type.model_class()
    if model is None:  # a remote type (the hot path of remote prefetches) or a stale one
        return (content_type.id, str(pk))
    return (content_type.id, pk_to_string(model._meta.pk, pk))  # type: ignore[return-value]


def key_function(content_type: GenericContentType) -> Callable[[Any], ObjectKey]:
    """Return ``key_of`` for one type, ``pk -> key``, with the type's lookups done once.

    For the loops that key every row of a prefetch: the model and its pk field are looked
    up when the function is made, not per row.
    """
    type_id = content_type.id
    model = content_type.model_class()
    if model is None:  # a remote type or a stale one: as key_of()
        return lambda pk: (type_id, None if pk is None else str(pk))  # type: ignore[return-value]
    pk_field = model._meta.pk

    def key(pk: Any) -> ObjectKey:
        # Not typing.cast(): a call per row.
        return (type_id, pk_to_string(pk_field, pk))  # type: ignore[return-value]

    return key


def resolve(
    pks_by_type: Mapping[GenericContentType, Iterable[Any]],
    *,
    using: str | None = None,
    querysets: Mapping[int, models.QuerySet] | None = None,
) -> dict[ObjectKey, Any]:
    """Return ``{key: object}`` for the objects behind ``{type: pks}`` that exist.

    ``querysets`` maps a local type id to the queryset to load it with (``Prefetch``).
    Remote objects come back loaded (or as placeholders, see the module docstring); pks
    that do not exist, locally or on their peer, have no key.
    """
    querysets = querysets or {}
    found: dict[ObjectKey, Any] = {}
    remote_pks: dict[GenericContentType, set[str]] = {}
    for content_type, pks in pks_by_type.items():
        pks = set(pks)
        if not pks:
            continue
        if not content_type.resolves_locally:
            remote_pks[content_type] = {str(pk) for pk in pks}
            continue
        model = content_type.model_class()
        if model is None:  # a stale type: its model is gone, so are its objects
            continue
        queryset = querysets.get(content_type.pk)
        if queryset is None:
            queryset = model._base_manager.db_manager(using).all()
        key = key_function(content_type)
        for obj in queryset.filter(pk__in=pks):
            found[key(obj.pk)] = obj
    if remote_pks:
        found.update(_fetch_remote(remote_pks))
    return found


def get_object(content_type: GenericContentType, using: str | None = None, **lookup: Any) -> Any:
    """Return the one object of ``content_type`` matching ``lookup`` (local ORM or peer).

    A remote object is fetched now; it raises ``RemoteObjectDoesNotExist`` when the peer
    says it does not exist (a placeholder comes back if the peer cannot say, unless
    ``ON_REMOTE_ERROR`` is ``"raise"``).
    """
    if content_type.resolves_locally:
        model = content_type.model_class()
        if model is None:
            raise LookupError(f"The model of {content_type.natural_key()} is not installed.")
        return model._base_manager.using(using).get(**lookup)
    if set(lookup) != {"pk"}:
        raise ValueError(f"Objects of remote type {content_type} can only be looked up by pk.")
    key = key_of(content_type, lookup["pk"])
    try:
        return _fetch_remote({content_type: {key[1]}})[key]
    except KeyError:
        raise RemoteObjectDoesNotExist(
            f"{content_type} with pk {key[1]!r} does not exist."
        ) from None


def get_target(content_type: GenericContentType, pk: Any, using: str | None = None) -> Any:
    """Return what a forward accessor gives for ``(content_type, pk)``.

    A local type gives the model instance (``ObjectDoesNotExist`` if it is gone); a remote
    type gives a lazy ``RemoteObject``, fetched when a field other than ``pk`` is read.
    """
    if content_type.resolves_locally:
        return get_object(content_type, using=using, pk=pk)
    if pk is None:  # a type without an id points at nothing, as for a local type
        raise RemoteObjectDoesNotExist(f"{content_type} with no pk does not exist.")
    return reference(content_type, pk)


def reference(content_type: GenericContentType, pk: Any) -> RemoteObject:
    """Return a lazy ``RemoteObject`` for ``pk`` of a remote type, without any request."""
    from .remote import RemoteObject

    return RemoteObject(content_type, pk)


def load(objects: Iterable[RemoteObject], *, fresh: bool = False) -> None:
    """Fill in the data of these remote objects, in one batch per (peer, type, page).

    With ``fresh``, the cache is not read (it is still written): ``RemoteObject.refresh()``.
    An object that the peer says does not exist is marked so (reading its fields raises
    ``RemoteObjectDoesNotExist``); one whose peer fails becomes a placeholder, or the
    error is raised when ``ON_REMOTE_ERROR`` is ``"raise"`` (the objects stay unloaded).
    """
    objects = list(objects)
    wanted: dict[GenericContentType, set[str]] = defaultdict(set)
    for obj in objects:
        wanted[obj.content_type].add(obj._pk_string)
    states = _states(wanted, fresh=fresh)
    _raise_if_asked(states.values())
    for obj in objects:
        obj._set_state(states[(obj.content_type, obj._pk_string)])


def iterate(
    content_type: GenericContentType,
    filters: Mapping[str, Any] | None = None,
    *,
    page_size: int | None = None,
) -> Iterator[RemoteObject]:
    """Yield every remote object of ``content_type`` matching ``filters``, page by page.

    Listing always raises on failure, whatever ``ON_REMOTE_ERROR`` says: there is no
    placeholder for objects whose pks are unknown. Every object seen primes the cache.
    """
    from .remote import RemoteObject

    _check_remote(content_type)
    client = _client(content_type.project)
    cursor: str | None = None
    seen_cursors: set[str] = set()
    while True:
        answer = client.list(
            content_type.app_label,
            content_type.model,
            cursor=cursor,
            filters=dict(filters or {}),
            limit=page_size,
        )
        entries, cursor = _validate_page(content_type, answer)
        _cache_states(content_type, dict(entries))
        for _pk_string, entry in entries:
            yield RemoteObject(content_type, entry["pk"], state=entry)
        if cursor is None:
            return
        if cursor in seen_cursors:
            raise ProtocolError(f"Peer {content_type.project!r} repeated a listing cursor.")
        seen_cursors.add(cursor)


#: One page of a remote search: the objects found and the cursor of the next page.
SearchPage = tuple[list["RemoteObject"], str | None]


class PendingSearch:
    """A remote search under way (``start_search``); ``results()`` waits for its answers."""

    def __init__(
        self,
        futures: dict[GenericContentType, Future[Any]],
        limit: int,
        deadline: float,
        timeout: float,
    ) -> None:
        self._futures = futures
        self._limit = limit
        self._deadline = deadline
        self._timeout = timeout

    def results(self) -> dict[GenericContentType, SearchPage | FederationError]:
        """Return each type's page, or the error of its peer (``PeerUnavailable`` if late)."""
        from .remote import RemoteObject

        done, _pending = wait(
            self._futures.values(), timeout=max(0.0, self._deadline - time.monotonic())
        )
        results: dict[GenericContentType, SearchPage | FederationError] = {}
        for content_type, future in self._futures.items():
            label = f"{content_type.app_label}.{content_type.model}"
            if future not in done:
                future.cancel()
                results[content_type] = PeerUnavailable(
                    f"Peer {content_type.project!r} did not answer a search of {label} "
                    f"within {self._timeout:g} s."
                )
                continue
            try:
                entries, cursor = _validate_page(content_type, future.result())
            except FederationError as error:
                results[content_type] = error
                continue
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                results[content_type] = ProtocolError(f"Peer {content_type.project!r}: {error}")
                continue
            if len(entries) > self._limit:
                results[content_type] = ProtocolError(
                    f"Peer {content_type.project!r} sent more {label} objects than asked for."
                )
                continue
            _cache_states(content_type, dict(entries))
            results[content_type] = (
                [RemoteObject(content_type, entry["pk"], state=entry) for _pk, entry in entries],
                cursor,
            )
        return results


def start_search(
    cursors: Mapping[GenericContentType, str | None],
    term: str,
    *,
    limit: int,
    timeout: float | None = None,
) -> PendingSearch:
    """Start searching each remote type's listing for ``term``: one page per type.

    ``cursors`` maps each type to search to the cursor of the page wanted (``None``: the
    first). Every (peer, type) is asked at once, on the resolver's thread pool, so the
    caller can run its local queries meanwhile; ``results()`` gives up on whatever has not
    answered ``timeout`` seconds (default ``TIMEOUT``) after the start, so a slow peer never
    holds the others' hits back longer than that. A type whose peer failed maps to its
    ``FederationError`` whatever ``ON_REMOTE_ERROR`` says: a search has no placeholders to
    give. Every object found primes the cache.
    """
    for content_type in cursors:
        _check_remote(content_type)
    wait_for = federated_settings.TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + wait_for
    executor = _executor()
    futures = {
        content_type: executor.submit(_search_peer, content_type, cursor, term, limit)
        for content_type, cursor in cursors.items()
    }
    return PendingSearch(futures, limit, deadline, wait_for)


def search(
    cursors: Mapping[GenericContentType, str | None],
    term: str,
    *,
    limit: int,
    timeout: float | None = None,
) -> dict[GenericContentType, SearchPage | FederationError]:
    """Search each remote type's listing for ``term`` and wait (see ``start_search``)."""
    return start_search(cursors, term, limit=limit, timeout=timeout).results()


def _search_peer(
    content_type: GenericContentType, cursor: str | None, term: str, limit: int
) -> Any:
    """Ask one peer for one page of a search (runs in a worker thread: HTTP only)."""
    return _client(content_type.project).list(
        content_type.app_label, content_type.model, cursor=cursor, limit=limit, search=term
    )


def discover(peer: str, *, fresh: bool = False) -> dict[str, Any]:
    """Return the peer's discovery document (its exposed types).

    The shared client asks once per process; ``fresh`` asks now, with a client of its own
    (``federation_check``: is the peer reachable and does it accept our signature today?).
    """
    if fresh:
        from .client import FederationClient

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
    states = _states({content_type: {str(pk) for pk in pks}}, fresh=True)
    missing = {pk for (_ct, pk), state in states.items() if _is_missing(state)}
    errors = {
        pk: state for (_ct, pk), state in states.items() if isinstance(state, FederationError)
    }
    return missing, errors


def check_events(peer: str) -> None:
    """Ask ``peer`` now, with a client of its own, whether it takes events (for checks)."""
    from .client import FederationClient

    client = FederationClient(peer)
    try:
        client.check_events()
    finally:
        client.close()


def send_events(peer: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Deliver events to ``peer``; return ``{"accepted": [event ids]}`` (``events`` uses it)."""
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
    _cache_states(content_type, dict.fromkeys(pk_strings, _MISSING_MARKER))
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


# --- internals -------------------------------------------------------------------------


_GENERIC_CONTENT_TYPE: type[GenericContentType] | None = None


def _type_model() -> type[GenericContentType]:
    # models.py sits above this module (it imports the resolver); import it once, on the
    # first type lookup, not per reference.
    global _GENERIC_CONTENT_TYPE
    if _GENERIC_CONTENT_TYPE is None:
        from .models import GenericContentType

        _GENERIC_CONTENT_TYPE = GenericContentType
    return _GENERIC_CONTENT_TYPE


def _fetch_remote(
    pks_by_type: Mapping[GenericContentType, set[str]],
) -> dict[ObjectKey, RemoteObject]:
    """Return ``{key: RemoteObject}`` of the remote objects that exist (or placeholders)."""
    from .remote import RemoteObject

    states = _states(pks_by_type, fresh=False)
    _raise_if_asked(states.values())
    found: dict[ObjectKey, RemoteObject] = {}
    for (content_type, pk_string), state in states.items():
        if _is_missing(state):
            continue
        pk = state["pk"] if isinstance(state, dict) else pk_string
        found[(content_type.pk, pk_string)] = RemoteObject(content_type, pk, state=state)
    return found


def _is_missing(state: State) -> bool:
    return state is _MISSING_MARKER or state == _MISSING_MARKER


def _raise_if_asked(states: Iterable[State]) -> None:
    if federated_settings.ON_REMOTE_ERROR != "raise":
        return
    for state in states:
        if isinstance(state, FederationError):
            raise state


def _states(
    pks_by_type: Mapping[GenericContentType, set[str]], *, fresh: bool
) -> dict[tuple[GenericContentType, str], State]:
    """Return what is known of each (type, pk string): from the cache, else from its peer."""
    states: dict[tuple[GenericContentType, str], State] = {}
    cache = _cache()
    wanted: dict[str, tuple[GenericContentType, str]] = {}
    for content_type, pks in pks_by_type.items():
        _check_remote(content_type)
        for pk in pks:
            wanted[cache_key(content_type, pk)] = (content_type, pk)
    if not fresh and federated_settings.CACHE_TTL:
        for key, value in cache.get_many(list(wanted)).items():
            states[wanted.pop(key)] = value
    asked: dict[str, dict[GenericContentType, list[str]]] = defaultdict(lambda: defaultdict(list))
    for content_type, pk in wanted.values():
        asked[content_type.project][content_type].append(pk)
    if not asked:
        return states
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
                states.update(((content_type, pk), error) for pk in asked_pks)
                continue
            newly_missing = dict.fromkeys(missing, _MISSING_MARKER)
            _cache_states(content_type, {**entries, **newly_missing})
            states.update(((content_type, pk), entry) for pk, entry in entries.items())
            states.update(((content_type, pk), _MISSING_MARKER) for pk in missing)
            for pk in sorted(missing):
                _signal_deleted(content_type, pk)
    return states


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
            entries, missing = _validate_batch(content_type, pks, answer)
        except (PeerUnavailable, PeerAuthError) as error:
            fatal = error
            results[content_type] = ({}, set(), error)
        except FederationError as error:
            results[content_type] = ({}, set(), error)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # A hostile answer must end as a ProtocolError, not deep in the caller.
            results[content_type] = ({}, set(), ProtocolError(f"Peer {peer!r}: {error}"))
        else:
            results[content_type] = (entries, missing, None)
    return results


def _validate_entry(content_type: GenericContentType, entry: Any) -> tuple[str, Entry]:
    peer = content_type.project
    if not isinstance(entry, dict):
        raise ProtocolError(f"Peer {peer!r} sent an object that is not a JSON object.")
    pk, text, fields = entry.get("pk"), entry.get("str"), entry.get("fields")
    if isinstance(pk, bool) or not isinstance(pk, (int, str)):
        raise ProtocolError(f"Peer {peer!r} sent an object whose pk is not an int or a string.")
    if not isinstance(text, str):
        raise ProtocolError(f"Peer {peer!r} sent an object whose 'str' is not a string.")
    if not isinstance(fields, dict) or not all(isinstance(name, str) for name in fields):
        raise ProtocolError(f"Peer {peer!r} sent an object whose 'fields' is not an object.")
    return str(pk), {"pk": pk, "str": text, "fields": dict(fields)}


def _validate_batch(
    content_type: GenericContentType, asked: list[str], answer: Any
) -> tuple[dict[str, Entry], set[str]]:
    """Check that a batch answer accounts for exactly the pks asked, each once."""
    peer = content_type.project
    if not isinstance(answer, dict):
        raise ProtocolError(f"Peer {peer!r} answered a batch lookup with no JSON object.")
    objects, missing = answer.get("objects"), answer.get("missing")
    if not isinstance(objects, list) or not isinstance(missing, list):
        raise ProtocolError(f"Peer {peer!r} answered without 'objects' and 'missing' lists.")
    asked_set = set(asked)
    entries: dict[str, Entry] = {}
    for raw in objects:
        pk_string, entry = _validate_entry(content_type, raw)
        if pk_string not in asked_set or pk_string in entries:
            raise ProtocolError(
                f"Peer {peer!r} sent a {content_type.app_label}.{content_type.model} object "
                "that was not asked for (or twice)."
            )
        entries[pk_string] = entry
    missing_set: set[str] = set()
    for pk in missing:
        if not isinstance(pk, str) or pk not in asked_set or pk in entries:
            raise ProtocolError(f"Peer {peer!r} listed a missing pk that was not asked for.")
        missing_set.add(pk)
    if len(entries) + len(missing_set) != len(asked_set):
        raise ProtocolError(f"Peer {peer!r} did not account for every pk asked for.")
    return entries, missing_set


def _validate_page(content_type: GenericContentType, answer: Any) -> tuple[list, str | None]:
    peer = content_type.project
    if not isinstance(answer, dict) or not isinstance(answer.get("objects"), list):
        raise ProtocolError(f"Peer {peer!r} answered a listing without an 'objects' list.")
    cursor = answer.get("next")
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise ProtocolError(f"Peer {peer!r} answered a listing with a malformed 'next'.")
    entries = [_validate_entry(content_type, raw) for raw in answer["objects"]]
    if len({pk for pk, _entry in entries}) != len(entries):
        raise ProtocolError(f"Peer {peer!r} listed an object twice in one page.")
    return entries, cursor


def _cache_states(content_type: GenericContentType, states: Mapping[str, Any]) -> None:
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


def _client(peer: str) -> Any:
    from .client import get_client

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
