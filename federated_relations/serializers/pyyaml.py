"""Django's "yaml" format, with ``FederatedManyToManyField`` values as references.

Importing it needs PyYAML, as Django's own "yaml" format does; without it Django
registers the format as unavailable.
"""

from __future__ import annotations

from django.core.serializers import pyyaml

from .base import FederatedDeserializerMixin, FederatedSerializerMixin

__all__ = ["Deserializer", "Serializer"]


class Serializer(FederatedSerializerMixin, pyyaml.Serializer):
    """Serialize to YAML; federated many-to-many values as references."""


class Deserializer(FederatedDeserializerMixin, pyyaml.Deserializer):
    """Deserialize YAML; federated many-to-many references as targets."""
