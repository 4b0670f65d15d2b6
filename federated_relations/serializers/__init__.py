"""Serializer formats that write and read ``FederatedManyToManyField`` values.

Django's own formats write a many-to-many value as the targets' pks, which cannot say which
model (or which server) a target belongs to, and they give a field no hook to write
anything else. These formats write each target as the natural key of its
``GenericContentType`` followed by its pk string, ``["local_project", "library", "book",
"3"]`` (with or without ``--natural-foreign``), and read it back; a peer's type missing
from the database (a fresh one) is created. Every other field is written and read exactly
as by Django's format of the same name. Enable them with Django's own setting (nothing
global is replaced)::

    SERIALIZATION_MODULES = {
        "json": "federated_relations.serializers.json",
        "jsonl": "federated_relations.serializers.jsonl",
        "python": "federated_relations.serializers.python",
        "xml": "federated_relations.serializers.xml_serializer",
        "yaml": "federated_relations.serializers.pyyaml",  # needs PyYAML
    }

Without it, the system check ``federated_relations.W601`` names the formats missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any

from django.apps import AppConfig, apps
from django.core import checks, serializers
from django.core.serializers import BadSerializer

from ..fields import FederatedManyToManyField
from .base import (
    FederatedDeserializerMixin,
    FederatedSerializerMixin,
    FederatedXMLDeserializerMixin,
    FederatedXMLSerializerMixin,
    dump_references,
    load_references,
    serializes,
)

__all__ = [
    "FORMATS",
    "FederatedDeserializerMixin",
    "FederatedSerializerMixin",
    "FederatedXMLDeserializerMixin",
    "FederatedXMLSerializerMixin",
    "check_serialization_modules",
    "dump_references",
    "load_references",
]

#: ``SERIALIZATION_MODULES`` of every format Django ships: format name -> our module.
FORMATS = {
    "json": "federated_relations.serializers.json",
    "jsonl": "federated_relations.serializers.jsonl",
    "python": "federated_relations.serializers.python",
    "xml": "federated_relations.serializers.xml_serializer",
    "yaml": "federated_relations.serializers.pyyaml",
}


def _federated_fields(app_configs: Iterable[AppConfig] | None) -> list[FederatedManyToManyField]:
    if app_configs is None:
        model_list: Iterable[Any] = apps.get_models()
    else:
        model_list = chain.from_iterable(config.get_models() for config in app_configs)
    return [
        field
        for model in model_list
        for field in model._meta.local_many_to_many
        if serializes(field)
    ]


def _writes_references(format: str) -> bool | None:
    """Return whether ``format`` is one of ours, ``None`` when it cannot load here."""
    serializer = serializers.get_serializer(format)
    if isinstance(serializer, BadSerializer):
        return None  # "yaml" without PyYAML: no format, nothing written wrong
    return issubclass(serializer, (FederatedSerializerMixin, FederatedXMLSerializerMixin))


def check_serialization_modules(
    app_configs: Iterable[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn when a built-in format would write federated many-to-many values as bare pks."""
    fields = _federated_fields(app_configs)
    if not fields:
        return []
    missing = [name for name in FORMATS if _writes_references(name) is False]
    if not missing:
        return []
    names = ", ".join(str(field) for field in fields[:3])
    if len(fields) > 3:
        names += f" and {len(fields) - 3} more"
    setting = ", ".join(f"{name!r}: {FORMATS[name]!r}" for name in missing)
    return [
        checks.Warning(
            f"dumpdata and loaddata cannot write or read {names} in the "
            f"{', '.join(missing)} format(s): Django's own formats write a many-to-many "
            "value as bare pks, which name neither the model nor the server of a target.",
            hint=f"Add to SERIALIZATION_MODULES: {{{setting}}}.",
            obj=fields[0],
            id="federated_relations.W601",
        )
    ]
