"""Serializers that write and read ``FederatedManyToManyField`` values.

Django's serializers write a many-to-many value as the target pks, which cannot say which
model (or which server) a target belongs to. These formats write each target as the
natural key of its ``GenericContentType`` followed by its pk string,
``["local_project", "library", "book", "3"]``, and read it back. Enable them with Django's
own setting (no global override)::

    SERIALIZATION_MODULES = {
        "json": "federated_relations.serializers.json",
        "python": "federated_relations.serializers.python",
    }

Every other field is serialized exactly as by Django's format of the same name.
"""

from __future__ import annotations

from typing import Any

from django.db import models

__all__ = ["FederatedDeserializerMixin", "FederatedSerializerMixin"]


def _is_federated(field: Any) -> bool:
    from ..fields import FederatedManyToManyField

    return isinstance(field, FederatedManyToManyField)


class FederatedSerializerMixin:
    """Write a ``FederatedManyToManyField`` as ``[project, app_label, model, pk]`` lists."""

    def handle_m2m_field(self, obj: models.Model, field: Any) -> None:
        """Write the field's targets as (type natural key, pk string) references."""
        if not _is_federated(field):
            return super().handle_m2m_field(obj, field)  # type: ignore[misc]
        if not field.remote_field.through._meta.auto_created:
            return None  # a custom through model is dumped as a model of its own
        from ..models import GenericContentType

        link = field.link
        rows = (
            link.through._base_manager.using(obj._state.db)
            .filter(**{link.source_field.attname: obj.pk})
            .order_by("pk")
            .values_list(link.content_type_field.attname, link.object_id)
        )
        types = GenericContentType.objects.db_manager(obj._state.db)
        self._current[field.name] = [  # type: ignore[attr-defined]
            [*types.get_for_id(type_id).natural_key(), object_id] for type_id, object_id in rows
        ]
        return None


class FederatedDeserializerMixin:
    """Read the references written by ``FederatedSerializerMixin`` back as targets."""

    def _handle_m2m_field_node(self, field: Any, field_value: Any) -> Any:
        if not _is_federated(field):
            return super()._handle_m2m_field_node(field, field_value)  # type: ignore[misc]
        from .. import resolver
        from ..models import GenericContentType

        types = GenericContentType.objects.db_manager(self.using)  # type: ignore[attr-defined]
        targets = []
        for project, app_label, model_name, object_id in field_value:
            content_type = types.get_by_natural_key(project, app_label, model_name)
            model = content_type.model_class()
            if model is None:
                targets.append(resolver.reference(content_type, object_id))
            else:
                # An unsaved stand-in: set() needs the type and pk only, and the target
                # may come later in the fixture.
                targets.append(model(pk=model._meta.pk.to_python(object_id)))
        return targets
