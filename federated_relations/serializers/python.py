"""Django's "python" format, with ``FederatedManyToManyField`` values as references."""

from __future__ import annotations

from django.core.serializers import python

from .base import FederatedDeserializerMixin, FederatedSerializerMixin

__all__ = ["Deserializer", "Serializer"]


class Serializer(FederatedSerializerMixin, python.Serializer):
    """Serialize to Python objects; federated many-to-many values as references."""


class Deserializer(FederatedDeserializerMixin, python.Deserializer):
    """Deserialize Python objects; federated many-to-many references as targets."""
