"""The public face of remote objects: ``remote()``, ``RemoteModel`` and ``RemoteObject``.

``remote(project, "app_label.Model", pk)`` gives a lazy ``RemoteObject`` (``objects``);
``RemoteModel`` is a peer's model, with ``get()``, ``in_bulk()`` and equality listings.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async

from . import resolver, validation
from .models import GenericContentType
from .objects import RemoteObject, RemoteObjectMissing

__all__ = ["RemoteModel", "RemoteObject", "RemoteObjectMissing", "RemoteQuerySet", "remote"]


def _parse_label(label: str) -> tuple[str, str]:
    app_label, dot, model = label.partition(".")
    if not dot or not app_label or not model or "." in model:
        raise ValueError(f"Expected 'app_label.Model', got {label!r}.")
    return app_label, model.lower()


def _remote_type(project: str, label: str) -> GenericContentType:
    app_label, model = _parse_label(label)
    validation.check_project(project, label)
    content_type = GenericContentType.objects.get_for_remote(project, app_label, model)
    if content_type.resolves_locally:
        raise ValueError(
            f"Project {project!r} is this server's (or the shared one): use the ORM for "
            f"{label}, not a remote reference."
        )
    return content_type


def remote(project: str, label: str, pk: Any) -> RemoteObject:
    """Return a lazy reference to object ``pk`` of model ``label`` on peer ``project``.

    Nothing is fetched until a field other than ``pk`` is read.
    """
    return RemoteObject(_remote_type(project, label), pk)


class RemoteQuerySet:
    """A lazy listing of a peer's objects of one type, with equality filters."""

    def __init__(self, content_type: GenericContentType, filters: dict[str, Any]) -> None:
        self.content_type = content_type
        self.filters = filters

    def filter(self, **filters: Any) -> RemoteQuerySet:
        """Return a listing narrowed by ``field=value`` equality on exposed fields."""
        for name in filters:
            if "__" in name or not name.isidentifier():
                raise ValueError(
                    f"Remote listings filter on exposed fields by equality only; got {name!r}."
                )
        return RemoteQuerySet(self.content_type, {**self.filters, **filters})

    def all(self) -> RemoteQuerySet:
        """Return a copy of this listing."""
        return RemoteQuerySet(self.content_type, dict(self.filters))

    def __iter__(self) -> Iterator[RemoteObject]:
        return resolver.iterate(self.content_type, self.filters)

    def __repr__(self) -> str:
        ct = self.content_type
        return f"<RemoteQuerySet: {ct.project} {ct.app_label}.{ct.model} {self.filters!r}>"


class RemoteModel:
    """A peer's model: ``get()``, ``in_bulk()``, ``all()`` and ``filter()`` over the wire."""

    def __init__(self, project: str, label: str) -> None:
        _parse_label(label)
        self.project = project
        self.label = label
        self._content_type: GenericContentType | None = None

    @property
    def content_type(self) -> GenericContentType:
        """Return the ``GenericContentType`` of the remote model."""
        if self._content_type is None:
            self._content_type = _remote_type(self.project, self.label)
        return self._content_type

    def get(self, pk: Any) -> RemoteObject:
        """Return the object with this pk, fetched now.

        Raises ``RemoteObjectDoesNotExist`` when the peer says it does not exist.
        """
        return resolver.get_object(self.content_type, pk=pk)

    def in_bulk(self, pks: Iterable[Any]) -> dict[Any, RemoteObject]:
        """Return ``{pk: object}`` for the pks that exist, in one request per page."""
        found = resolver.resolve({self.content_type: list(pks)})
        return {obj.pk: obj for obj in found.values()}

    async def aget(self, pk: Any) -> RemoteObject:
        """``get()`` for async code (the request runs in a worker thread)."""
        return await sync_to_async(self.get)(pk)

    async def ain_bulk(self, pks: Iterable[Any]) -> dict[Any, RemoteObject]:
        """``in_bulk()`` for async code."""
        return await sync_to_async(self.in_bulk)(list(pks))

    def all(self) -> RemoteQuerySet:
        """Return every object of the model (iterating reads every page)."""
        return RemoteQuerySet(self.content_type, {})

    def filter(self, **filters: Any) -> RemoteQuerySet:
        """Return the objects whose exposed fields equal the given values."""
        return self.all().filter(**filters)

    def __repr__(self) -> str:
        return f"<RemoteModel: {self.project} {self.label}>"


class _CallableModule(types.ModuleType):
    """This module, callable as ``remote()``.

    Both ``federated_relations.remote`` (this module) and ``from federated_relations import
    remote`` (the function) are public. Once this submodule is imported, the import system
    sets the package attribute ``remote`` to the module, whatever the package defines: so
    the module itself calls ``remote()``.
    """

    def __call__(self, project: str, label: str, pk: Any) -> RemoteObject:
        return remote(project, label, pk)



sys.modules[__name__].__class__ = _CallableModule
