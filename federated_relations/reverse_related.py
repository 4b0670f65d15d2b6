"""Relation metadata (``field.remote_field``) of the federated fields."""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericRel

__all__ = ["FederatedRel"]


class FederatedRel(GenericRel):
    """What ``GenericRel`` is to ``GenericRelation``, for ``FederatedRelation``.

    Its joins are the field's: ``get_joining_fields()`` delegates to
    ``FederatedRelation.get_reverse_joining_fields()`` and the ON clause to
    ``FederatedRelation.get_extra_restriction()``.
    """
