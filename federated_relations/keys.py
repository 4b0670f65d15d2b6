"""How a target's primary key is written into a string object-id column, in Python and SQL.

Relations store target pks as strings (a remote pk may be anything), so the same
canonical text must come out of Python (``pk_to_string``) and out of the database when a
join compares a string object-id column with a typed primary key (``ObjectIdExact``).
Casting the pk to text, never the object id to the pk's type, is what keeps joins valid
on PostgreSQL when other rows of the table hold non-numeric or remote ids.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.expressions import Expression
from django.db.models.fields.related_lookups import RelatedExact, RelatedIn
from django.db.models.functions import Cast
from django.db.models.lookups import Exact, In

if TYPE_CHECKING:
    from django.db.models.sql.compiler import _AsSqlType

    from .models import GenericContentType

__all__ = [
    "ObjectKey",
    "ObjectIdExact",
    "RelationExact",
    "RelationIn",
    "as_canonical_text",
    "is_text_field",
    "key_function",
    "key_of",
    "pk_to_string",
]

#: How resolved objects are matched to references: (type id, canonical pk string).
ObjectKey = tuple[int, str]


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
        # Every reference of a prefetch comes through here, most with an integer pk: for
        # Django's own integer fields, to_python() and get_prep_value() are int().
        if is_plain_integer_field(pk_field) and type(value) in (int, str):
            try:
                return str(int(value))
            except ValueError:
                pass  # let the field raise its own error
        value = pk_field.get_prep_value(pk_field.to_python(value))
    return str(value)


def is_plain_integer_field(field: models.Field) -> bool:
    """Return whether ``field`` converts values exactly as ``IntegerField`` does (``int()``)."""
    plain = _PLAIN_INTEGER_FIELDS.get(type(field))
    if plain is None:
        plain = _PLAIN_INTEGER_FIELDS[type(field)] = _is_plain_integer(type(field))
    return plain


# {field class: whether it converts values exactly as IntegerField does}
_PLAIN_INTEGER_FIELDS: dict[type[models.Field], bool] = {}


def _is_plain_integer(field_class: type[models.Field]) -> bool:
    """Return whether ``field_class`` keeps IntegerField's ``to_python``/``get_prep_value``."""
    if not issubclass(field_class, models.IntegerField):
        return False
    integer = models.IntegerField
    if (
        field_class.to_python is not integer.to_python
        or field_class.get_prep_value is not integer.get_prep_value
    ):
        return False
    # IntegerField.get_prep_value() calls super(): that must still be Field's.
    mro = field_class.__mro__
    after = mro[mro.index(integer) + 1:]
    parent = next(klass for klass in after if "get_prep_value" in vars(klass))
    return parent is models.Field


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

    def as_sql(self, compiler: Any, connection: Any) -> _AsSqlType:
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

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
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


def key_of(content_type: GenericContentType, pk: Any) -> ObjectKey:
    """Return the key that matches an object of ``content_type`` with primary key ``pk``."""
    # .id, not the .pk property: this runs for every reference of a prefetch.
    if pk is None:  # matches no object
        return (content_type.id, None)  # type: ignore[return-value]
    model = content_type.model_class()
    if model is None:  # a remote type (the hot path of remote prefetches) or a stale one
        return (content_type.id, str(pk))
    return (content_type.id, pk_to_string(model._meta.pk, pk))  # type: ignore[return-value]


def key_function(content_type: GenericContentType) -> Callable[[Any], ObjectKey]:
    """Return ``key_of`` for one type, ``pk -> key``, with the type's lookups done once.

    For the loops that key every row of a prefetch: the model and its pk field are looked
    up when the function is made, not per row.
    """
    type_id = content_type.id
    model = content_type.model_class()
    if model is None:  # a remote type or a stale one: as key_of()
        return lambda pk: (type_id, None if pk is None else str(pk))  # type: ignore[return-value]
    pk_field = model._meta.pk

    def key(pk: Any) -> ObjectKey:
        # Not typing.cast(): a call per row.
        return (type_id, pk_to_string(pk_field, pk))  # type: ignore[return-value]

    return key

