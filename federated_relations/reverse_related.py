"""Relation metadata (``field.remote_field``) of the federated fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.fields import GenericRel
from django.db.models.fields.reverse_related import ManyToManyRel

if TYPE_CHECKING:
    from .m2m.fields import FederatedManyToManyField

__all__ = ["FederatedManyToManyRel", "FederatedRel"]


class FederatedRel(GenericRel):
    """What ``GenericRel`` is to ``GenericRelation``, for ``FederatedRelation``.

    Its joins are the field's: ``get_joining_fields()`` delegates to
    ``FederatedRelation.get_reverse_joining_fields()`` and the ON clause to
    ``FederatedRelation.get_extra_restriction()``.
    """


class FederatedManyToManyRel(ManyToManyRel):
    """``remote_field`` of a ``FederatedManyToManyField``: what ``ManyToManyRel`` is to M2M.

    Its ``model`` is ``GenericContentType``, the one model every through table references,
    so the migration autodetector orders the field after ``GenericContentType``'s table.
    Its ``related_name`` is hidden ('+'): reverse accessors live on the target models
    (``FederatedManyToManyReverse``), never on ``GenericContentType``.
    """

    field: FederatedManyToManyField  # type: ignore[assignment]  # not a ManyToManyField

    def __init__(
        self,
        field: Any,
        to: Any,
        through: Any = None,
        through_fields: Any = None,
        db_constraint: bool = True,
    ) -> None:
        super().__init__(
            field,
            to,
            related_name="+",
            symmetrical=False,
            through=through,
            through_fields=through_fields,
            db_constraint=db_constraint,
        )

    def get_related_field(self) -> Any:
        """Return the through model's foreign key to the source model."""
        return self.field.link.source_field
