"""Django's "xml" format, with ``FederatedManyToManyField`` values as references."""

from __future__ import annotations

from django.core.serializers import xml_serializer

from .base import FederatedXMLDeserializerMixin, FederatedXMLSerializerMixin

__all__ = ["Deserializer", "Serializer"]


class Serializer(FederatedXMLSerializerMixin, xml_serializer.Serializer):
    """Serialize to XML; federated many-to-many values as natural-key references."""


class Deserializer(FederatedXMLDeserializerMixin, xml_serializer.Deserializer):
    """Deserialize XML; federated many-to-many references as targets."""
