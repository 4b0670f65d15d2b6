"""Objects that live on a peer: ``RemoteObject``, ``remote()`` and ``RemoteModel``.

A ``RemoteObject`` is a reference (project, type, pk) that loads its data through the
resolver the first time a field other than ``pk`` is read, then keeps it. Its exposed
fields are attributes; ``str()`` is the peer's rendering. When the peer cannot be asked
and ``ON_REMOTE_ERROR`` is ``"placeholder"``, it becomes a placeholder: ``is_available``
is false, ``str()`` says "unavailable" and reading a field raises ``AttributeError`` (so
templates render nothing). When the peer says the object does not exist, reading a field
raises ``RemoteObjectMissing`` (a ``RemoteObjectDoesNotExist`` and an ``AttributeError``,
like Django's ``RelatedObjectDoesNotExist``).
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async

from . import resolver, validation
from .exceptions import FederationError, RemoteObjectDoesNotExist

if TYPE_CHECKING:
    from .models import GenericContentType

__all__ = ["RemoteModel", "RemoteObject", "RemoteObjectMissing", "RemoteQuerySet", "remote"]

_INTEGER = re.compile(r"^(0|-?[1-9][0-9]{0,30})$")

_UNLOADED = "unloaded"
_LOADED = "loaded"
_MISSING = "missing"
_UNAVAILABLE = "unavailable"

#: Names Django's ORM probes values for (``hasattr``) when a remote object is a filter
#: value (``filter(items=book)``): never fields, so they never trigger a request.
_QUERY_PROBES = frozenset(
    {"resolve_expression", "get_source_expressions", "as_sql", "flatten", "filterable"}
)


class RemoteObjectMissing(RemoteObjectDoesNotExist, AttributeError):
    """Raised when a field of a remote object that no longer exists is read.

    An ``AttributeError`` too, so ``hasattr()`` and templates treat it as absent.
    """


def _natural_pk(pk: Any) -> int | str:
    """Return ``pk`` as the peer's JSON would give it, as far as it can be told.

    Object ids are stored as text, so a canonical integer string is taken for an integer
    pk until the peer's answer says otherwise.
    """
    if isinstance(pk, int) and not isinstance(pk, bool):
        return pk
    text = str(pk)
    return int(text) if _INTEGER.match(text) else text


class RemoteObject:
    """An object owned by a peer, loaded lazily; equal to another by (project, type, pk)."""

    def __init__(self, content_type: GenericContentType, pk: Any, *, state: Any = None) -> None:
        if pk is None:
            raise ValueError("A remote object needs a pk.")
        self._content_type = content_type
        self._pk = _natural_pk(pk)
        self._pk_string = str(pk)
        self._status = _UNLOADED
        self._entry: dict[str, Any] = {}
        self._error: FederationError | None = None
        if state is not None:
            self._set_state(state)

    # -- identity --------------------------------------------------------------------

    @property
    def pk(self) -> int | str:
        """Return the primary key (int for integer pks, else a string); never fetches."""
        return self._pk

    @property
    def project(self) -> str:
        """Return the name of the peer that owns the object."""
        return self._content_type.project

    @property
    def content_type(self) -> GenericContentType:
        """Return the ``GenericContentType`` of the object (a remote type)."""
        return self._content_type

    def _is_pk_set(self) -> bool:
        # Model.save() asks this of every cached generic target; a reference always has one.
        return True

    def _identity(self) -> tuple[str, str, str, str]:
        ct = self._content_type
        return (ct.project, ct.app_label, ct.model, self._pk_string)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteObject):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        ct = self._content_type
        return f"<RemoteObject: {ct.project} {ct.app_label}.{ct.model} {self._pk_string}>"

    # -- data ------------------------------------------------------------------------

    @property
    def is_available(self) -> bool:
        """Return whether the object's data could be read (loads it if needed).

        False for a placeholder and for an object the peer says does not exist; never
        raises, whatever ``ON_REMOTE_ERROR`` says.
        """
        if self._status == _UNLOADED:
            try:
                resolver.load([self])
            except FederationError:
                return False
        return self._status == _LOADED

    @property
    def is_loaded(self) -> bool:
        """Return whether the object's data was already read (no request is made)."""
        return self._status != _UNLOADED

    def refresh(self) -> None:
        """Read the object from its peer again, bypassing the cache."""
        resolver.load([self], fresh=True)

    def _set_state(self, state: Any) -> None:
        """Take what the resolver knows: an entry, the missing marker or an error."""
        if isinstance(state, FederationError):
            self._status, self._entry, self._error = _UNAVAILABLE, {}, state
        elif isinstance(state, dict) and "fields" in state:
            self._status, self._entry, self._error = _LOADED, state, None
            self._pk = _natural_pk(state["pk"])
        else:
            self._status, self._entry, self._error = _MISSING, {}, None

    def _ensure_loaded(self) -> None:
        if self._status == _UNLOADED:
            resolver.load([self])

    def _describe(self) -> str:
        ct = self._content_type
        return f"{ct.app_label}.{ct.model} {self._pk_string} on {ct.project}"

    def __str__(self) -> str:
        self._ensure_loaded()
        if self._status == _LOADED:
            return str(self._entry["str"])
        if self._status == _MISSING:
            return f"{self._describe()} (does not exist)"
        return f"{self._describe()} (unavailable)"

    @property
    def exposed_fields(self) -> dict[str, Any]:
        """Return a copy of the exposed fields (loads the object)."""
        self._ensure_loaded()
        self._raise_if_not_loaded("exposed_fields")
        return dict(self._entry["fields"])

    def _raise_if_not_loaded(self, name: str) -> None:
        if self._status == _MISSING:
            raise RemoteObjectMissing(
                f"{self._describe()} does not exist; it has no {name!r}."
            )
        if self._status == _UNAVAILABLE:
            raise AttributeError(f"{self._describe()} is unavailable ({self._error}).")

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; private names never trigger a request
        # (copy, pickle and hasattr probes look for them).
        if name.startswith("_") or name in _QUERY_PROBES:
            raise AttributeError(name)
        if self._status == _LOADED and name in self._entry["fields"]:
            return self._entry["fields"][name]
        # Reverse accessors of local relations need no request, so they come before loading.
        accessor = _reverse_accessor(self, name)
        if accessor is not None:
            return accessor
        self._ensure_loaded()
        self._raise_if_not_loaded(name)
        fields = self._entry["fields"]
        if name in fields:
            return fields[name]
        raise AttributeError(
            f"{self._describe()} has no exposed field {name!r} (exposed: {sorted(fields)})."
        )

    def __dir__(self) -> Iterable[str]:
        names = set(super().__dir__())
        if self._status == _LOADED:
            names.update(self._entry["fields"])
        return sorted(names)


def _reverse_accessor(obj: RemoteObject, name: str) -> Any:
    """Return the manager of a local many-to-many relation named ``name``, if there is one.

    ``FederatedManyToManyField`` gives every remote object a reverse accessor (its
    ``related_name``, or ``<source model name>_set``); the field module answers for it.
    """
    try:
        from . import fields
    except ImportError:  # pragma: no cover - the app registry is not ready
        return None
    finder = getattr(fields, "remote_reverse_accessor", None)
    if finder is None:
        return None
    return finder(obj, name)


def _parse_label(label: str) -> tuple[str, str]:
    app_label, dot, model = label.partition(".")
    if not dot or not app_label or not model or "." in model:
        raise ValueError(f"Expected 'app_label.Model', got {label!r}.")
    return app_label, model.lower()


def _remote_type(project: str, label: str) -> GenericContentType:
    from .models import GenericContentType

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

    ``from federated_relations import remote`` must give the function API.md names, but
    once this submodule is imported the package attribute ``remote`` is the module: so the
    module itself calls ``remote()``.
    """

    def __call__(self, project: str, label: str, pk: Any) -> RemoteObject:
        return remote(project, label, pk)


sys.modules[__name__].__class__ = _CallableModule
