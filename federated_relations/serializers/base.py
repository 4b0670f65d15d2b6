"""The references that the ``federated_relations.serializers`` formats write and read.

A ``FederatedManyToManyField`` target is written as ``[project, app_label, model, pk]``:
the natural key of its ``GenericContentType`` and its pk string.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast
from xml.dom.minidom import Element

from django.core.serializers.base import DeserializationError, M2MDeserializationError
from django.core.serializers.xml_serializer import getInnerText
from django.db import models

from .. import resolver
from ..fields import FederatedManyToManyField
from ..m2m.managers import LoadedTargets
from ..models import GenericContentType

__all__ = [
    "FederatedDeserializerMixin",
    "FederatedSerializerMixin",
    "FederatedXMLDeserializerMixin",
    "FederatedXMLSerializerMixin",
    "dump_references",
    "load_references",
    "serializes",
]


def serializes(field: Any) -> bool:
    """Return whether ``field`` is a federated many-to-many field whose rows are its value.

    A custom through model is dumped as a model of its own, as Django does.
    """
    return isinstance(field, FederatedManyToManyField) and (
        # Installed by the time anything is serialized.
        cast(type[models.Model], field.remote_field.through)._meta.auto_created
    )


def dump_references(field: FederatedManyToManyField, obj: models.Model) -> list[list[str]]:
    """Return the targets of ``obj`` as ``[project, app_label, model, pk]`` lists, in order."""
    using = obj._state.db
    link = field.link
    rows = list(
        link.through._base_manager.using(using)
        .filter(**{link.source_field.attname: obj.pk})
        .order_by("pk")
        .values_list(link.content_type_field.attname, link.object_id)
    )
    types = GenericContentType.objects.db_manager(using).get_for_ids(
        *{type_id for type_id, _ in rows}
    )
    return [[*types[type_id].natural_key(), object_id] for type_id, object_id in rows]


def _target(types: Any, reference: Any) -> Any:
    """Return the target of one ``[project, app_label, model, pk]`` reference."""
    if (
        isinstance(reference, str)
        or not isinstance(reference, Iterable)
        or len(reference := list(reference)) != 4
    ):
        raise ValueError(
            f"{reference!r} is not a [project, app_label, model, pk] reference. A "
            "FederatedManyToManyField written by Django's own format is bare pks, which "
            "name no model: dump it again with SERIALIZATION_MODULES set to "
            "federated_relations.serializers' formats."
        )
    project, app_label, model_name, object_id = (str(part) for part in reference)
    content_type = types.get_by_natural_key(project, app_label, model_name)
    if not content_type.resolves_locally:
        return resolver.reference(content_type, object_id)
    model = content_type.model_class()
    if model is None:
        raise GenericContentType.DoesNotExist(
            f"GenericContentType {'.'.join(content_type.natural_key())} names no "
            "installed model."
        )
    # An unsaved stand-in: set() needs the type and pk only, and the target may come
    # later in the fixture.
    return model(pk=model._meta.pk.to_python(object_id))


def load_references(field: FederatedManyToManyField, value: Any, using: str) -> list[Any]:
    """Return the targets named by the references of ``value``, for the manager's ``set()``.

    They are a ``LoadedTargets``: ``set()`` stores them without asking their peers.

    Raise ``M2MDeserializationError`` (which Django's deserializers report with the
    object) naming the reference that cannot be read.
    """
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise M2MDeserializationError(
            TypeError(f"{field} is a list of references, not {value!r}."), value
        )
    types = GenericContentType.objects.db_manager(using)
    targets = LoadedTargets()
    for reference in value:
        try:
            targets.append(_target(types, reference))
        except Exception as e:
            raise M2MDeserializationError(e, reference) from e
    return targets


class FederatedSerializerMixin:
    """Write a ``FederatedManyToManyField`` as ``[project, app_label, model, pk]`` lists.

    For the formats built on Django's "python" format (json, jsonl, python, yaml).
    """

    _current: dict[str, Any]

    def handle_m2m_field(self, obj: models.Model, field: Any) -> None:
        """Write the field's targets as references; other fields as Django does."""
        if not isinstance(field, FederatedManyToManyField):
            return super().handle_m2m_field(obj, field)  # type: ignore[misc]
        if serializes(field):
            self._current[field.name] = dump_references(field, obj)
        return None


class FederatedDeserializerMixin:
    """Read the references written by ``FederatedSerializerMixin`` back as targets."""

    using: str

    def _handle_m2m_field_node(self, field: Any, field_value: Any) -> Any:
        if not isinstance(field, FederatedManyToManyField):
            return super()._handle_m2m_field_node(field, field_value)  # type: ignore[misc]
        return load_references(field, field_value, self.using)


class FederatedXMLSerializerMixin:
    """Write a ``FederatedManyToManyField`` as ``<object>`` elements of four ``<natural>``.

    That is how Django's "xml" format writes a natural key, so the element reads as a
    natural-key reference; a bare ``pk`` attribute is never written for the field.
    """

    xml: Any

    def handle_m2m_field(self, obj: models.Model, field: Any) -> None:
        """Write the field's targets as references; other fields as Django does."""
        if not isinstance(field, FederatedManyToManyField):
            return super().handle_m2m_field(obj, field)  # type: ignore[misc]
        if not serializes(field):
            return None
        self._start_relational_field(field)  # type: ignore[attr-defined]
        for reference in dump_references(field, obj):
            self.xml.startElement("object", {})
            for part in reference:
                self.xml.startElement("natural", {})
                self.xml.characters(part)
                self.xml.endElement("natural")
            self.xml.endElement("object")
        self.xml.endElement("field")
        return None


class FederatedXMLDeserializerMixin:
    """Read the references written by ``FederatedXMLSerializerMixin`` back as targets."""

    db: str

    def _handle_m2m_field_node(self, node: Element, field: Any) -> Any:
        if not isinstance(field, FederatedManyToManyField):
            return super()._handle_m2m_field_node(node, field)  # type: ignore[misc]
        references: list[Any] = []
        for child in node.getElementsByTagName("object"):
            keys = child.getElementsByTagName("natural")
            # A bare pk (Django's own format) is kept as a string, which is refused.
            references.append(
                [getInnerText(key).strip() for key in keys] if keys else child.getAttribute("pk")
            )
        try:
            return load_references(field, references, self.db)
        except M2MDeserializationError as e:
            # Django's XML deserializer reports these bare; say which object it was.
            parent = node.parentNode
            model, pk = (
                (parent.getAttribute("model"), parent.getAttribute("pk"))
                if isinstance(parent, Element)
                else (None, None)
            )
            # WithData() only formats its arguments; the stubs want them to be strings.
            raise DeserializationError.WithData(
                e.original_exc, model, pk, e.pk  # type: ignore[arg-type]
            ) from e
