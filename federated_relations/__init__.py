"""Federated generic relations for Django.

``GenericForeignKey`` and django-gm2m's ``GM2MField``, made able to point at objects
owned by another Django server. Public names are re-exported lazily (PEP 562) so that
importing the package never imports models before the app registry is ready.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "FederatedForeignKey": "federated_relations.fields",
    "FederatedRelation": "federated_relations.fields",
    "FederatedManyToManyField": "federated_relations.fields",
    "FederatedPrefetch": "federated_relations.prefetch",
    "GenericContentType": "federated_relations.models",
    "RemoteObject": "federated_relations.objects",
    "RemoteModel": "federated_relations.remote",
    "remote": "federated_relations.remote",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
