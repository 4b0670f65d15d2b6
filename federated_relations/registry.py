"""The models this server exposes to its peers, read from ``FEDERATION["EXPOSE"]``.

Views serve only what ``get_exposed_type`` returns and only the fields it lists, so the
``EXPOSE`` setting is the single source of what leaves this server. The registry is built
on first use (the app registry must be ready) and rebuilt when the settings change.
No other module reads ``EXPOSE``: the checks (``exposure_errors``) and the deletion
events (``exposed_labels``) ask here.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .conf import federated_settings, on_reload
from .keys import pk_to_string

__all__ = [
    "ExposedType",
    "exposed_labels",
    "exposed_types",
    "exposure_errors",
    "get_exposed_type",
    "json_safe",
    "reset",
    "search_filter",
    "serialize",
    "wire_pk",
]


@dataclass(frozen=True)
class ExposedType:
    """An exposed model and the fields (in ``EXPOSE`` order) peers may read and filter on."""

    model: type[models.Model]
    fields: tuple[models.Field, ...]
    #: The exposed fields the listing's ``search`` parameter looks in (``EXPOSE``'s
    #: ``"search"``); empty when the type cannot be searched.
    search_fields: tuple[models.Field, ...] = ()

    @property
    def app_label(self) -> str:
        """Return the model's app label, as used in URLs."""
        return self.model._meta.app_label

    @property
    def model_name(self) -> str:
        """Return the lower-case model name, as used in URLs."""
        return self.model._meta.model_name or ""

    @property
    def label(self) -> str:
        """Return ``app_label.model_name``."""
        return f"{self.app_label}.{self.model_name}"

    @property
    def field_names(self) -> tuple[str, ...]:
        """Return the names of the exposed fields."""
        return tuple(field.name for field in self.fields)

    @cached_property
    def readers(self) -> tuple[tuple[str, Callable[[models.Model], Any]], ...]:
        """Return ``(name, value_from_object)`` of each exposed field, for ``serialize``."""
        return tuple((field.name, field.value_from_object) for field in self.fields)

    def get_field(self, name: str) -> models.Field | None:
        """Return the exposed field called ``name``, or ``None`` if it is not exposed."""
        for field in self.fields:
            if field.name == name:
                return field
        return None


_lock = threading.Lock()
_types: dict[tuple[str, str], ExposedType] | None = None


def _read_expose() -> tuple[dict[tuple[str, str], ExposedType], list[tuple[str, str]]]:
    """Return the types ``EXPOSE`` names, and ``(check id, message)`` for each wrong name.

    An entry naming a model that is not installed (E402), or a name that is not a field
    with a column on its model (E403), is left out of the types and reported instead.
    """
    types: dict[tuple[str, str], ExposedType] = {}
    errors: list[tuple[str, str]] = []
    for label, field_names in federated_settings.EXPOSE.items():
        try:
            model = apps.get_model(label, require_ready=False)
        except LookupError:
            errors.append((
                "federated_relations.E402",
                f"FEDERATION['EXPOSE'] names {label!r}, which is not an installed model.",
            ))
            continue
        fields = []
        for name in field_names:
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                field = None
            if not isinstance(field, models.Field) or not field.concrete:
                errors.append((
                    "federated_relations.E403",
                    f"FEDERATION['EXPOSE'][{label!r}] names {name!r}, which is not a field "
                    f"with a column on {label}.",
                ))
                continue
            fields.append(field)
        searched = set(getattr(field_names, "search", ()))
        exposed = ExposedType(
            model=model,
            fields=tuple(fields),
            search_fields=tuple(field for field in fields if field.name in searched),
        )
        types[(exposed.app_label, exposed.model_name)] = exposed
    return types, errors


def _build() -> dict[tuple[str, str], ExposedType]:
    types, errors = _read_expose()
    if errors:
        raise ImproperlyConfigured(" ".join(message for _id, message in errors))
    return types


def exposure_errors() -> list[tuple[str, str]]:
    """Return ``(check id, message)`` for each ``EXPOSE`` entry naming a missing model or field.

    Never raises for them (the system checks report them), and does not need the app
    registry to be ready.
    """
    return _read_expose()[1]


def exposed_labels() -> frozenset[str]:
    """Return the lower-case ``app_label.model_name`` of every model ``EXPOSE`` names.

    Read from the setting alone, so it never raises for a model that is not installed:
    such a label matches no model.
    """
    return frozenset(label.lower() for label in federated_settings.EXPOSE)


def search_filter(exposed: ExposedType, term: str) -> models.Q | None:
    """Return the filter of a listing's ``search``: every word of ``term`` in some field.

    As ``ModelAdmin.get_search_results`` does, the term is split into words and each word
    must be found (case-insensitively) in at least one of the type's search fields.
    Return ``None`` if the type has no search fields.
    """
    if not exposed.search_fields:
        return None
    condition = models.Q()
    for word in term.split():
        any_field = models.Q()
        for field in exposed.search_fields:
            any_field |= models.Q(**{f"{field.attname}__icontains": word})
        condition &= any_field
    return condition


def _registry() -> dict[tuple[str, str], ExposedType]:
    global _types
    types = _types
    if types is None:
        with _lock:
            if _types is None:
                _types = _build()
            types = _types
    return types


def exposed_types() -> list[ExposedType]:
    """Return every exposed type, sorted by app label and model name."""
    return [types for _key, types in sorted(_registry().items())]


def get_exposed_type(app_label: str, model_name: str) -> ExposedType | None:
    """Return the exposed type of ``app_label.model_name`` (lower case), else ``None``."""
    return _registry().get((app_label, model_name))


@on_reload
def reset() -> None:
    """Forget the registry; the next lookup reads ``EXPOSE`` again."""
    global _types
    with _lock:
        _types = None


_ENCODER = DjangoJSONEncoder()


def _same(value: Any) -> Any:
    return value


#: {exact type: its JSON form}: one dict lookup for the values most fields hold. Each
#: entry gives what the general path below gives for that type (subclasses, e.g. text
#: choices, and every other type take that path).
_FAST_JSON: dict[type, Callable[[Any], Any]] = {
    str: _same,
    int: _same,
    bool: _same,
    type(None): _same,
    decimal.Decimal: str,
    uuid.UUID: str,
    datetime.date: datetime.date.isoformat,
}


def json_safe(value: Any) -> Any:
    """Return ``value`` as plain JSON data, encoding objects as ``DjangoJSONEncoder`` does.

    Dates, times, decimals and UUIDs become strings; bytes become base64 text; floats that
    JSON cannot carry (NaN, infinities) become strings like ``Decimal`` does.
    """
    fast = _FAST_JSON.get(type(value))
    if fast is not None:
        return fast(value)
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    try:
        return _ENCODER.default(value)
    except TypeError:
        return str(value)


def wire_pk(model: type[models.Model], pk: Any) -> int | str:
    """Return ``pk`` as the protocol writes it: an int for integer keys, else its string."""
    if isinstance(pk, int) and not isinstance(pk, bool):
        return pk
    return pk_to_string(model._meta.pk, pk) or ""


def serialize(obj: models.Model, exposed: ExposedType | None = None) -> dict[str, Any]:
    """Return ``{"pk", "str", "fields"}`` of ``obj`` with only its exposed fields.

    Raise ``LookupError`` if the model of ``obj`` is not exposed.
    """
    if exposed is None or not isinstance(obj, exposed.model):
        meta = obj._meta
        exposed = get_exposed_type(meta.app_label, meta.model_name or "")
        if exposed is None:
            raise LookupError(f"{meta.label} is not exposed to peers.")
    fields = {}
    for name, read in exposed.readers:
        value = read(obj)
        fast = _FAST_JSON.get(type(value))
        fields[name] = fast(value) if fast is not None else json_safe(value)
    return {"pk": wire_pk(exposed.model, obj.pk), "str": str(obj), "fields": fields}
