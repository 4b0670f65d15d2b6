"""The resolver core shared by every federated field: references in, objects out.

References are grouped by type. Types that resolve locally (this project's, or the
reserved ``"shared"`` project's) are loaded with one ORM query per type; the others are
asked of the peer owning them (``_fetch_remote``). Fields never load targets another way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.db import models

from .exceptions import PeerUnavailable, RemoteObjectDoesNotExist
from .keys import pk_to_string

if TYPE_CHECKING:
    from .models import GenericContentType

__all__ = ["ObjectKey", "content_type_of", "get_object", "key_of", "resolve"]

#: How resolved objects are matched to references: (type id, canonical pk string).
ObjectKey = tuple[int, str]


def content_type_of(
    obj: Any, *, for_concrete_model: bool = True, using: str | None = None
) -> GenericContentType:
    """Return the type of a model instance (this project's) or of a remote object."""
    from .models import GenericContentType

    if isinstance(obj, models.Model):
        return GenericContentType.objects.db_manager(using or obj._state.db).get_for_model(
            obj, for_concrete_model=for_concrete_model
        )
    content_type = getattr(obj, "content_type", None)
    if isinstance(content_type, GenericContentType):
        return content_type
    raise TypeError(f"{obj!r} is neither a model instance nor a remote object.")


def key_of(content_type: GenericContentType, pk: Any) -> ObjectKey:
    """Return the key that matches an object of ``content_type`` with primary key ``pk``."""
    model = content_type.model_class()
    return (content_type.pk, pk_to_string(model._meta.pk if model else None, pk))


def resolve(
    pks_by_type: Mapping[GenericContentType, Iterable[Any]],
    *,
    using: str | None = None,
    querysets: Mapping[int, models.QuerySet] | None = None,
) -> dict[ObjectKey, Any]:
    """Return ``{key: object}`` for the objects behind ``{type: pks}`` that exist.

    ``querysets`` maps a local type id to the queryset to load it with (``Prefetch``).
    """
    querysets = querysets or {}
    found: dict[ObjectKey, Any] = {}
    remote: dict[GenericContentType, set[Any]] = {}
    for content_type, pks in pks_by_type.items():
        pks = set(pks)
        if not pks:
            continue
        if not content_type.resolves_locally:
            remote[content_type] = pks
            continue
        model = content_type.model_class()
        if model is None:  # a stale type: its model is gone, so are its objects
            continue
        queryset = querysets.get(content_type.pk)
        if queryset is None:
            queryset = model._base_manager.db_manager(using).all()
        for obj in queryset.filter(pk__in=pks):
            found[(content_type.pk, pk_to_string(model._meta.pk, obj.pk))] = obj
    for content_type, pks in remote.items():
        found.update(_fetch_remote(content_type, pks))
    return found


def get_object(content_type: GenericContentType, using: str | None = None, **lookup: Any) -> Any:
    """Return the one object of ``content_type`` matching ``lookup`` (local ORM or peer)."""
    if content_type.resolves_locally:
        model = content_type.model_class()
        if model is None:
            raise LookupError(f"The model of {content_type.natural_key()} is not installed.")
        return model._base_manager.using(using).get(**lookup)
    if set(lookup) != {"pk"}:
        raise ValueError(f"Objects of remote type {content_type} can only be looked up by pk.")
    key = key_of(content_type, lookup["pk"])
    try:
        return _fetch_remote(content_type, [lookup["pk"]])[key]
    except KeyError:
        raise RemoteObjectDoesNotExist(
            f"{content_type} with pk {key[1]!r} does not exist."
        ) from None


def _fetch_remote(content_type: GenericContentType, pks: Iterable[Any]) -> dict[ObjectKey, Any]:
    """Ask the peer owning ``content_type`` for these objects (the federation seam)."""
    raise PeerUnavailable(
        f"Cannot read {content_type.app_label}.{content_type.model} objects of project "
        f"{content_type.project!r}: no peer named {content_type.project!r} is configured "
        "in FEDERATION['PEERS']."
    )
