"""Manager factories of the federated relations."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.contenttypes.fields import create_generic_related_manager

from .models import GenericContentType

__all__ = ["create_federated_related_manager"]


def create_federated_related_manager(superclass: type, rel: Any) -> type:
    """Return the manager class of ``instance.<FederatedRelation>``.

    It is Django's generic related manager (add, remove, clear, set, create, prefetch...)
    with its content types taken from ``GenericContentType``: every operation of that
    manager goes through the attributes set here.
    """
    generic_manager = create_generic_related_manager(superclass, rel)

    class FederatedRelatedObjectManager(generic_manager):  # type: ignore[misc, valid-type]
        def __init__(self, instance: Any = None) -> None:
            # Skip the generic manager's __init__: it would look up a ContentType.
            super(generic_manager, self).__init__()
            self.instance = instance
            self.model = rel.model
            self.get_content_type = functools.partial(
                GenericContentType.objects.db_manager(instance._state.db).get_for_model,
                for_concrete_model=rel.field.for_concrete_model,
            )
            self.content_type = self.get_content_type(instance)
            self.content_type_field_name = rel.field.content_type_field_name
            self.object_id_field_name = rel.field.object_id_field_name
            self.prefetch_cache_name = rel.field.attname
            self.pk_val = instance.pk
            self.core_filters = {
                f"{self.content_type_field_name}__pk": self.content_type.id,
                self.object_id_field_name: self.pk_val,
            }

        def __call__(self, *, manager: str) -> Any:
            manager_class = create_federated_related_manager(
                getattr(self.model, manager).__class__, rel
            )
            return manager_class(instance=self.instance)

    return FederatedRelatedObjectManager
