"""Objects that live on a peer: ``RemoteObject``, and how it is loaded.

A ``RemoteObject`` is a reference (project, type, pk) that loads its data through
``peers`` the first time a field other than ``pk`` is read, then keeps it. Its exposed
fields are attributes; ``str()`` is the peer's rendering. When the peer cannot be asked
and ``ON_REMOTE_ERROR`` is ``"placeholder"``, it becomes a placeholder: ``is_available``
is false, ``str()`` says "unavailable" and reading a field raises ``AttributeError`` (so
templates render nothing). When the peer says the object does not exist, reading a field
raises ``RemoteObjectMissing`` (a ``RemoteObjectDoesNotExist`` and an ``AttributeError``,
like Django's ``RelatedObjectDoesNotExist``).

Remote objects also have the reverse accessors of local many-to-many fields
(``remote("shop_b", "library.Book", 3).shelf_set``): the fields register them here when
their through model is ready (``add_reverse_accessor``), so a read never scans models.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import peers
from .exceptions import FederationError, RemoteObjectDoesNotExist
from .keys import ObjectKey, key_of

if TYPE_CHECKING:
    from .models import GenericContentType

__all__ = [
    "RemoteObject",
    "RemoteObjectMissing",
    "add_reverse_accessor",
    "fetch",
    "get",
    "load",
]

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
                load([self])
            except FederationError:
                return False
        return self._status == _LOADED

    @property
    def is_loaded(self) -> bool:
        """Return whether the object's data was already read (no request is made)."""
        return self._status != _UNLOADED

    def refresh(self) -> None:
        """Read the object from its peer again, bypassing the cache."""
        load([self], fresh=True)

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
            load([self])

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
    known = peers.states(wanted, fresh=fresh)
    peers.raise_if_asked(known.values())
    for obj in objects:
        obj._set_state(known[(obj.content_type, obj._pk_string)])


def fetch(pks_by_type: Mapping[GenericContentType, set[str]]) -> dict[ObjectKey, RemoteObject]:
    """Return ``{key: RemoteObject}`` of the remote objects that exist (or placeholders)."""
    known = peers.states(pks_by_type)
    peers.raise_if_asked(known.values())
    found: dict[ObjectKey, RemoteObject] = {}
    for (content_type, pk_string), state in known.items():
        if peers.is_missing(state):
            continue
        pk = state["pk"] if isinstance(state, dict) else pk_string
        found[(content_type.pk, pk_string)] = RemoteObject(content_type, pk, state=state)
    return found


def get(content_type: GenericContentType, pk: Any) -> RemoteObject:
    """Return the remote object ``pk`` of ``content_type``, fetched now.

    Raises ``RemoteObjectDoesNotExist`` when the peer says it does not exist (a placeholder
    comes back if the peer cannot say, unless ``ON_REMOTE_ERROR`` is ``"raise"``).
    """
    key = key_of(content_type, pk)
    try:
        return fetch({content_type: {key[1]}})[key]
    except KeyError:
        raise RemoteObjectDoesNotExist(
            f"{content_type} with pk {key[1]!r} does not exist."
        ) from None


#: ``{accessor name: manager factory}``: the reverse accessors every remote object has.
_REVERSE_ACCESSORS: dict[str, Callable[[RemoteObject], Any]] = {}
_REVERSE_ACCESSORS_LOCK = threading.Lock()


def add_reverse_accessor(name: str, manager: Callable[[RemoteObject], Any]) -> None:
    """Give every remote object the accessor ``name``: ``obj.<name>`` is ``manager(obj)``.

    ``FederatedManyToManyField`` calls this once its through model is ready. The first
    field to claim a name keeps it (the system checks report the clash).
    """
    with _REVERSE_ACCESSORS_LOCK:
        _REVERSE_ACCESSORS.setdefault(name, manager)


def _reverse_accessor(obj: RemoteObject, name: str) -> Any:
    manager = _REVERSE_ACCESSORS.get(name)
    return None if manager is None else manager(obj)
