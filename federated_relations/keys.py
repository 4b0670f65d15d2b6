"""How a target's primary key is written into a string object-id column, in Python and SQL.

Relations store target pks as strings (a remote pk may be anything), so the same
canonical text must come out of Python (``pk_to_string``) and out of the database when a
join compares a string object-id column with a typed primary key (``ObjectIdExact``).
Casting the pk to text, never the object id to the pk's type, is what keeps joins valid
on PostgreSQL when other rows of the table hold non-numeric or remote ids.
"""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.expressions import Expression
from django.db.models.fields.related_lookups import RelatedExact, RelatedIn
from django.db.models.functions import Cast
from django.db.models.lookups import Exact, In

__all__ = [
    "ObjectIdExact",
    "RelationExact",
    "RelationIn",
    "as_canonical_text",
    "is_text_field",
    "pk_to_string",
]


def is_text_field(field: models.Field) -> bool:
    """Return whether the column of ``field`` holds text."""
    return field.get_internal_type() in ("CharField", "TextField", "SlugField")


def pk_to_string(pk_field: models.Field | None, value: Any) -> str | None:
    """Return the canonical string of a primary key value (``None`` stays ``None``).

    With ``pk_field`` the value is normalized first, so ``"7"`` and ``7`` of an integer pk,
    or a UUID and its hex string, give the same string; a remote pk (no field) is ``str()``.
    """
    if value is None:
        return None
    if pk_field is not None:
        value = pk_field.get_prep_value(pk_field.to_python(value))
    return str(value)


def as_canonical_text(expression: Expression, connection: Any) -> Expression:
    """Return SQL for ``expression`` as the text ``pk_to_string`` gives its value."""
    field = expression.output_field
    if is_text_field(field):
        return expression
    if field.get_internal_type() == "UUIDField" and not connection.features.has_native_uuid_field:
        # Stored as 32 hex digits; str(uuid) has hyphens at 8-4-4-4-12.
        return _HyphenatedHex(expression)
    return Cast(expression, models.TextField())


class ObjectIdExact(Exact):
    """``object_id = <expression>`` on a text object-id column, comparing canonical text.

    Registered on the object-id field of each ``FederatedRelation``, so the joins it makes
    and the subqueries Django builds for ``exclude()`` compare ``object_id`` with the
    primary key cast to text, never the object id cast to the pk's type (which fails on
    PostgreSQL, Django #16055). Plain values are prepared as usual.
    """

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if self.rhs_is_direct_value() or not is_text_field(self.lhs.output_field):
            return super().as_sql(compiler, connection)
        try:
            rhs_field = self.rhs.output_field
        except FieldError:
            return super().as_sql(compiler, connection)
        if is_text_field(rhs_field):
            return super().as_sql(compiler, connection)
        lookup = copy.copy(self)
        lookup.rhs = as_canonical_text(self.rhs, connection)
        return super(ObjectIdExact, lookup).as_sql(compiler, connection)


class _HyphenatedHex(Expression):
    """A 32-hex-digit UUID column rendered as ``str(uuid)`` does."""

    output_field = models.TextField()

    def __init__(self, column: Expression) -> None:
        super().__init__()
        self.column = column

    def get_source_expressions(self) -> list[Expression]:
        return [self.column]

    def set_source_expressions(self, exprs: list[Expression]) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.column)
        pieces = [
            f"SUBSTR({sql}, {start}, {length})"
            for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        ]
        if connection.vendor == "mysql":
            return f"CONCAT_WS('-', {', '.join(pieces)})", params * 5
        hyphenated = " || '-' || ".join(pieces)
        return f"LOWER({hyphenated})", params * 5


def _prep_for_column(column: models.Field, value: Any) -> Any:
    if isinstance(value, models.Model):
        if value.pk is None:
            raise ValueError("Model instances passed to related filters must be saved.")
        value = value.pk
    return column.get_prep_value(value)


class _PreparedForColumnMixin:
    """Prepare the values of ``relation=obj`` / ``relation__in=[...]`` for the compared column.

    A generic relation's path reports the primary key of the *other* end as its target
    (``GenericRelation`` does the same), so Django would prepare a UUID or string pk with
    the referencing model's integer pk field: ``int(uuid)`` is sent, or ``int("slug")``
    fails. The column being compared (``lhs.target``) is the right field on both sides.
    """

    lhs: Any

    def _column(self) -> models.Field | None:
        return getattr(self.lhs, "target", None)

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, list[Any]]:
        column = self._column()
        if column is None:
            return super().get_db_prep_lookup(value, connection)  # type: ignore[misc]
        values = value if self.get_db_prep_lookup_value_is_iterable else [value]  # type: ignore[attr-defined]
        prepared = [
            v if hasattr(v, "as_sql") else column.get_db_prep_value(v, connection, prepared=True)
            for v in values
        ]
        return ("%s", prepared)


class RelationExact(_PreparedForColumnMixin, RelatedExact):
    """``exact`` across a ``FederatedRelation``, in either direction."""

    def get_prep_lookup(self) -> Any:
        column = self._column()
        if column is None or hasattr(self.rhs, "resolve_expression"):
            return super().get_prep_lookup()
        self.rhs = _prep_for_column(column, self.rhs)
        return Exact.get_prep_lookup(self)


class RelationIn(_PreparedForColumnMixin, RelatedIn):
    """``in`` across a ``FederatedRelation``, in either direction."""

    def get_prep_lookup(self) -> Any:
        column = self._column()
        if column is None or not self.rhs_is_direct_value():
            return super().get_prep_lookup()
        self.rhs = [_prep_for_column(column, value) for value in self.rhs]
        return In.get_prep_lookup(self)
