"""Django's "jsonl" format, with ``FederatedManyToManyField`` values as references."""

from __future__ import annotations

from django.core.serializers import jsonl

from .base import FederatedDeserializerMixin, FederatedSerializerMixin

__all__ = ["Deserializer", "Serializer"]


class Serializer(FederatedSerializerMixin, jsonl.Serializer):
    """Serialize to JSON Lines; federated many-to-many values as references."""


class Deserializer(FederatedDeserializerMixin, jsonl.Deserializer):
    """Deserialize JSON Lines; federated many-to-many references as targets."""
