"""The federated fields, where migrations and users import them from.

``FederatedForeignKey`` and ``FederatedRelation`` live in ``generic``,
``FederatedManyToManyField`` in ``m2m``; migrations name
``federated_relations.fields.FederatedManyToManyField`` (its ``deconstruct()`` path).
"""

from __future__ import annotations

from .generic import REMOTE_DELETE_HANDLERS, FederatedForeignKey, FederatedRelation
from .m2m.fields import RELATIONS_LOCK, FederatedManyToManyField, FederatedManyToManyReverse

__all__ = [
    "REMOTE_DELETE_HANDLERS",
    "RELATIONS_LOCK",
    "FederatedForeignKey",
    "FederatedManyToManyField",
    "FederatedManyToManyReverse",
    "FederatedRelation",
]
