"""The resolver core shared by every federated field: references in, objects out.

References are grouped by type. Types that resolve locally (this project's, or the
reserved ``"shared"`` project's) are loaded with one ORM query per type; the others are
``RemoteObject``s loaded by ``peers`` (the cache, then one batched request per peer, type
and page, peers in parallel). Failures follow ``ON_REMOTE_ERROR``: ``"placeholder"`` gives
placeholder ``RemoteObject``s (``is_available`` false, ``str()`` says "unavailable"),
``"raise"`` raises the ``FederationError``. Nothing here writes a local row: remote data
only ever goes to the cache and into ``RemoteObject``s.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, wait
from typing import Any

from django.db import models

from . import objects, peers
from .conf import federated_settings
from .exceptions import FederationError, PeerUnavailable, ProtocolError, RemoteObjectDoesNotExist
from .keys import ObjectKey, key_function, key_of
from .models import GenericContentType
from .objects import RemoteObject, load

__all__ = [
    "ObjectKey",
    "PendingSearch",
    "content_type_of",
    "get_object",
    "get_target",
    "iterate",
    "key_function",
    "key_of",
    "load",
    "reference",
    "resolve",
    "search",
    "start_search",
]


def content_type_of(
    obj: Any, *, for_concrete_model: bool = True, using: str | None = None
) -> GenericContentType:
    """Return the type of a model instance (this project's) or of a remote object."""
    return GenericContentType.objects.db_manager(using).get_for_object(
        obj, for_concrete_model=for_concrete_model
    )


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
        found.update(objects.fetch(remote_pks))
    return found



def get_object(content_type: GenericContentType, using: str | None = None, **lookup: Any) -> Any:
    """Return the one object of ``content_type`` matching ``lookup`` (local ORM or peer).

    ``GenericContentType.get_object_for_this_type()``: see there.
    """
    return content_type.get_object_for_this_type(using=using, **lookup)


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
    return RemoteObject(content_type, pk)


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
    cursor: str | None = None
    seen_cursors: set[str] = set()
    while True:
        entries, cursor = peers.list_page(
            content_type, cursor=cursor, filters=filters, limit=page_size
        )
        for _pk_string, entry in entries:
            yield RemoteObject(content_type, entry["pk"], state=entry)
        if cursor is None:
            return
        if cursor in seen_cursors:
            raise ProtocolError(f"Peer {content_type.project!r} repeated a listing cursor.")
        seen_cursors.add(cursor)


#: One page of a remote search: the objects found and the cursor of the next page.
SearchPage = tuple[list[RemoteObject], str | None]


class PendingSearch:
    """A remote search under way (``start_search``); ``results()`` waits for its answers."""

    def __init__(
        self,
        futures: dict[GenericContentType, Future[Any]],
        deadline: float,
        timeout: float,
    ) -> None:
        self._futures = futures
        self._deadline = deadline
        self._timeout = timeout

    def results(self) -> dict[GenericContentType, SearchPage | FederationError]:
        """Return each type's page, or the error of its peer (``PeerUnavailable`` if late)."""
        done, _pending = wait(
            self._futures.values(), timeout=max(0.0, self._deadline - time.monotonic())
        )
        results: dict[GenericContentType, SearchPage | FederationError] = {}
        for content_type, future in self._futures.items():
            if future not in done:
                future.cancel()
                results[content_type] = PeerUnavailable(
                    f"Peer {content_type.project!r} did not answer a search of "
                    f"{content_type.app_label}.{content_type.model} within {self._timeout:g} s."
                )
                continue
            try:
                entries, cursor = peers.read_page(content_type, future.result())
            except FederationError as error:
                results[content_type] = error
                continue
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                results[content_type] = ProtocolError(f"Peer {content_type.project!r}: {error}")
                continue
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
    first). Every (peer, type) is asked at once, on the peers' thread pool, so the caller
    can run its local queries meanwhile; ``results()`` gives up on whatever has not
    answered ``timeout`` seconds (default ``TIMEOUT``) after the start, so a slow peer never
    holds the others' hits back longer than that. A type whose peer failed maps to its
    ``FederationError`` whatever ``ON_REMOTE_ERROR`` says: a search has no placeholders to
    give. Every object found primes the cache.
    """
    wait_for = federated_settings.TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + wait_for
    futures = {
        content_type: peers.start_listing(content_type, cursor=cursor, search=term, limit=limit)
        for content_type, cursor in cursors.items()
    }
    return PendingSearch(futures, deadline, wait_for)


def search(
    cursors: Mapping[GenericContentType, str | None],
    term: str,
    *,
    limit: int,
    timeout: float | None = None,
) -> dict[GenericContentType, SearchPage | FederationError]:
    """Search each remote type's listing for ``term`` and wait (see ``start_search``)."""
    return start_search(cursors, term, limit=limit, timeout=timeout).results()
