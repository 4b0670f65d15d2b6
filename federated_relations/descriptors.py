"""Accessors of the federated relations, as ``related_descriptors`` has for Django's.

In the example::

    class Bookmark(models.Model):
        tags = FederatedRelation(TaggedItem)

    class TaggedItem(models.Model):
        content_object = FederatedForeignKey()

* ``TaggedItem.content_object`` is the ``FederatedForeignKey`` itself (its own descriptor,
  as ``GenericForeignKey`` is).
* ``Bookmark.tags`` is a ``ReverseFederatedManyToOneDescriptor``; ``bookmark.tags`` is a
  manager made by ``managers.create_federated_related_manager``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.fields import ReverseGenericManyToOneDescriptor
from django.utils.functional import cached_property

__all__ = ["ReverseFederatedManyToOneDescriptor"]


class ReverseFederatedManyToOneDescriptor(ReverseGenericManyToOneDescriptor):
    """Accessor to the manager of the rows that point at an instance."""

    @cached_property
    def related_manager_cls(self) -> Any:
        from .managers import create_federated_related_manager

        return create_federated_related_manager(
            self.rel.model._default_manager.__class__, self.rel
        )
