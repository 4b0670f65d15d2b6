"""Django's "json" format, with ``FederatedManyToManyField`` values as references."""

from __future__ import annotations

from django.core.serializers import json

from .base import FederatedDeserializerMixin, FederatedSerializerMixin

__all__ = ["Deserializer", "Serializer"]


class Serializer(FederatedSerializerMixin, json.Serializer):
    """Serialize to JSON; federated many-to-many values as references."""


class Deserializer(FederatedDeserializerMixin, json.Deserializer):
    """Deserialize JSON; federated many-to-many references as targets."""
