"""Accessors of the federated relations, as ``related_descriptors`` has for Django's.

In the example::

    class Bookmark(models.Model):
        tags = FederatedRelation(TaggedItem)

    class TaggedItem(models.Model):
        content_object = FederatedForeignKey()

* ``TaggedItem.content_object`` is the ``FederatedForeignKey`` itself (its own descriptor,
  as ``GenericForeignKey`` is) before Django 6.1, and a ``fields.FederatedForeignKeyDescriptor``
  (a ``GenericForeignKeyDescriptor`` honouring fetch modes) from Django 6.1 on.
* ``Bookmark.tags`` is a ``ReverseFederatedManyToOneDescriptor``; ``bookmark.tags`` is a
  manager made by ``managers.create_federated_related_manager``.

And for many-to-many relations::

    class User(models.Model):
        videos = FederatedManyToManyField(Movie)

* ``User.videos`` is a ``FederatedManyToManyDescriptor``; ``user.videos`` is a manager of
  the mixed targets made by ``managers.create_federated_m2m_manager``, and
  ``User.videos.add_relation(Other)`` adds a reverse relation.
* ``Movie.user_set`` is a ``ReverseFederatedManyToManyDescriptor``; ``movie.user_set`` is a
  manager of ``User`` objects made by ``managers.create_federated_reverse_m2m_manager``.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import cached_property

from .managers import create_federated_m2m_manager, create_federated_reverse_m2m_manager

__all__ = [
    "FederatedManyToManyDescriptor",
    "ReverseFederatedManyToManyDescriptor",
]


class _ManagerDescriptor:
    """A class attribute that gives, on an instance, a manager of ``related_manager_cls``."""

    related_manager_cls: Any

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        return self.related_manager_cls(instance)

    def __set__(self, instance: Any, value: Any) -> None:
        # gm2m allows ``user.videos = [...]``; evaluate first, set() may clear (#19816).
        self.__get__(instance).set(tuple(value))


class FederatedManyToManyDescriptor(_ManagerDescriptor):
    """Accessor of a ``FederatedManyToManyField`` on the source model.

    On an instance it gives the manager of the targets; on the class it gives itself, with
    the field's ``add_relation`` and ``get_related_models`` (as gm2m's descriptor does).
    """

    def __init__(self, field: Any) -> None:
        self.field = field

    @property
    def through(self) -> Any:
        """Return the through model."""
        return self.field.remote_field.through

    @cached_property
    def related_manager_cls(self) -> Any:
        return create_federated_m2m_manager(self.field)

    def add_relation(self, model: Any, on_delete: Any = None, auto: bool = False) -> None:
        """Give ``model`` a reverse relation to this field (``Model.field.add_relation``)."""
        self.field.add_relation(model, on_delete=on_delete, auto=auto)

    def get_related_models(self, include_auto: bool = False) -> list[Any]:
        """Return the target models with a reverse relation."""
        return self.field.get_related_models(include_auto)


class ReverseFederatedManyToManyDescriptor(_ManagerDescriptor):
    """Accessor on a target model to the sources relating to an instance (``user_set``).

    Remote objects get the same accessor (``objects.add_reverse_accessor``): ``__get__``
    of an instance is the manager.
    """

    def __init__(self, field: Any) -> None:
        self.field = field  # the FederatedManyToManyField

    @cached_property
    def related_manager_cls(self) -> Any:
        return create_federated_reverse_m2m_manager(self.field)

