"""Filtering sources by their targets: ``Wishlist.objects.filter(items=phone)``.

A ``FederatedManyToManyField`` joins the source table to its through rows, and a target is
a (type, object id) pair of columns there, not a foreign key Django could compare with an
instance. The join's ``join_field`` is a ``FederatedTargetsRel`` whose ``exact`` and ``in``
lookups (``TargetExact``, ``TargetIn``) turn model instances, remote objects, querysets
and columns (``OuterRef("pk")``) into a condition on both columns of that one join:

    (content_type_id = 7 AND object_id IN ('1', '2')) OR (content_type_id = 9 AND ...)

Type ids are looked up when the query is compiled, on the database it runs on (they differ
between databases); a remote object is never loaded, so no request reaches a peer.
``exclude()`` works as for any many-to-many field: Django puts the condition in a
``NOT EXISTS`` subquery, so sources without any target are kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models.expressions import Col, Expression, F
from django.db.models.fields.reverse_related import ManyToOneRel
from django.db.models.lookups import Exact, In, Lookup
from django.db.models.query_utils import PathInfo
from django.db.models.sql import AND, OR
from django.db.models.sql.query import Query
from django.db.models.sql.where import WhereNode

from .keys import as_canonical_text, pk_to_string
from .models import GenericContentType
from .resolver import key_of

if TYPE_CHECKING:
    from .m2m.through import ThroughLink

__all__ = ["FederatedTargetsRel", "TargetExact", "TargetIn", "TargetRef", "targets_path_info"]


@dataclass(frozen=True)
class TargetRef:
    """A target named in a filter: a local model and pk, or a type's natural key and pk.

    Filters keep this instead of the object: a remote object would load itself from its
    peer when Django probes it for expression methods, and the type id it needs depends on
    the database the query runs on.
    """

    object_id: str
    model: type[models.Model] | None = None
    natural_key: tuple[str, str, str] | None = None
    # (database alias, id) of the GenericContentType the object came with.
    known_type: tuple[str | None, Any] | None = None

    @classmethod
    def of(cls, value: Any, for_concrete_model: bool) -> TargetRef:
        """Return the reference to ``value``: a model instance or a remote object."""
        if isinstance(value, models.Model):
            if value.pk is None:
                raise ValueError("Model instances passed to related filters must be saved.")
            model = type(value)
            if for_concrete_model:
                # Set on every model class (None only on Options not yet given to a model).
                model = cast(type[models.Model], model._meta.concrete_model)
            return cls(pk_to_string(value._meta.pk, value.pk) or "", model=model)
        content_type = getattr(value, "content_type", None)
        if isinstance(content_type, GenericContentType) and not isinstance(value, type):
            # A RemoteObject (or a manager's MissingTarget): its type and pk, not its data.
            _type_id, object_id = key_of(content_type, value.pk)
            return cls(
                object_id,
                natural_key=content_type.natural_key(),
                known_type=(content_type._state.db, content_type.pk),
            )
        raise ValueError(
            f"Cannot filter a federated many-to-many field by {value!r}: give model "
            "instances or remote objects (or filter on '<field>__object_id')."
        )

    def type_id(self, link: ThroughLink, using: str) -> Any:
        """Return the id of this target's type in the through table on ``using``, or None."""
        if self.model is not None:
            return link.type_for_model(self.model, for_concrete_model=False, using=using).pk
        assert self.natural_key is not None and self.known_type is not None
        db, generic_id = self.known_type
        if db != using:
            # Another database's type: its id there, read (not created, as the type
            # lookups of the manager would: a filter writes nothing). None: no row of
            # this database can point at it.
            project, app_label, model = self.natural_key
            generic_id = (
                GenericContentType.objects.db_manager(using)
                .filter(project=project, app_label=app_label, model=model)
                .values_list("pk", flat=True)
                .first()
            )
            if generic_id is None:
                return None
        if link.is_generic:
            return generic_id
        return link.local_type_id(generic_id, using)


#: The column a subquery of targets selects (the pk as object-id text).
_OBJECT_ID_ALIAS = "_federated_object_id"


class CanonicalText(Expression):
    """An expression rendered as the text ``pk_to_string`` gives its value (``keys``)."""

    output_field = models.TextField()

    def __init__(self, expression: Expression) -> None:
        super().__init__()
        self.expression = expression

    def get_source_expressions(self) -> list[Expression]:
        return [self.expression]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.expression,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return compiler.compile(as_canonical_text(self.expression, connection))


def _column_target(column: Any) -> tuple[type[models.Model], Expression]:
    """Return the model whose pk ``column`` holds, and the column typed as that pk."""
    target = getattr(column, "target", None) if isinstance(column, Col) else None
    if target is not None and target.primary_key:
        return target.model, column
    if target is not None and target.many_to_one and target.related_model is not None:
        # A foreign key holds the pk of its model; compare it as that pk's text.
        return target.related_model, Col(column.alias, target, target.target_field)
    raise ValueError(
        f"Cannot filter a federated many-to-many field by {column!r}: a column compared "
        "with targets must be a primary key or a foreign key."
    )


def _all_of(*conditions: Any) -> WhereNode:
    """Return the AND of ``conditions`` (lookups: the stubs take only nodes as children)."""
    return WhereNode(list(conditions), connector=AND)


class _TargetLookup(Lookup):
    """Compare the (type, object id) columns of the joined through rows with targets."""

    prepare_rhs = False

    @property
    def rel(self) -> FederatedTargetsRel:
        return self.lhs.output_field

    def _refs(self, values: Any) -> tuple[TargetRef, ...]:
        for_concrete_model = self.rel.m2m_field.for_concrete_model
        refs = {
            TargetRef.of(value, for_concrete_model): None for value in values if value is not None
        }
        return tuple(refs)

    def _is_expression(self) -> bool:
        return isinstance(self.rhs, (Expression, Query)) or (
            not isinstance(self.rhs, (models.Model, tuple))
            and getattr(type(self.rhs), "resolve_expression", None) is not None
        )

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        link = self.rel.m2m_field.link
        alias = self.lhs.alias
        type_col = link.content_type_field.get_col(alias)
        id_col = link.object_id_field.get_col(alias)
        if isinstance(self.rhs, Query):
            condition = self._subquery_condition(link, connection, type_col, id_col)
        elif self._is_expression():
            model, column = _column_target(self.rhs)
            content_type = link.type_for_model(model, False, using=connection.alias)
            condition = _all_of(
                Exact(type_col, content_type.pk), Exact(id_col, CanonicalText(column))
            )
        else:
            condition = self._values_condition(link, connection, type_col, id_col)
        return compiler.compile(condition)

    def _values_condition(
        self, link: ThroughLink, connection: Any, type_col: Col, id_col: Col
    ) -> WhereNode:
        ids_by_type: dict[Any, list[str]] = defaultdict(list)
        refs = self.rhs if isinstance(self.rhs, tuple) else (self.rhs,)
        for ref in refs:
            type_id = ref.type_id(link, connection.alias)
            if type_id is not None:
                ids_by_type[type_id].append(ref.object_id)
        if not ids_by_type:
            raise EmptyResultSet  # no row can match: the compiler makes it false (or true)
        return WhereNode(
            [
                _all_of(
                    Exact(type_col, type_id),
                    Exact(id_col, ids[0]) if len(ids) == 1 else In(id_col, ids),
                )
                for type_id, ids in ids_by_type.items()
            ],
            connector=OR,
        )

    def _subquery_condition(
        self, link: ThroughLink, connection: Any, type_col: Col, id_col: Col
    ) -> WhereNode:
        query = self.rhs.clone()
        if not query.has_select_fields:
            model = query.model
            if self.rel.m2m_field.for_concrete_model:
                model = cast(type[models.Model], model._meta.concrete_model)  # as above
            column: Any = F("pk")
        elif len(query.select) == 1 and not query.annotation_select and not query.extra_select:
            model, column = _column_target(query.select[0])
        else:
            raise ValueError(
                "A queryset compared with targets must select one primary or foreign key."
            )
        # Select the pk as the text stored in object ids, through the public select API
        # (what values() does), so every Django version builds the subquery's columns.
        query.clear_select_clause()
        query.add_annotation(CanonicalText(column), _OBJECT_ID_ALIAS)
        query.set_values([_OBJECT_ID_ALIAS])
        content_type = link.type_for_model(model, False, using=connection.alias)
        return _all_of(Exact(type_col, content_type.pk), In(id_col, query))


class TargetExact(_TargetLookup):
    """``field=target``: sources with this target (an instance, remote object or column)."""

    lookup_name = "exact"

    def get_prep_lookup(self) -> Any:
        if self.rhs is None or self._is_expression():
            return self.rhs
        (ref,) = self._refs([self.rhs])
        return ref


class TargetIn(_TargetLookup):
    """``field__in=[...]``: sources with any of these targets, local and remote mixed."""

    lookup_name = "in"

    def get_prep_lookup(self) -> Any:
        if self._is_expression():
            return self.rhs
        if isinstance(self.rhs, (str, bytes)) or not hasattr(type(self.rhs), "__iter__"):
            raise TypeError(f"'in' needs an iterable of targets, not {self.rhs!r}.")
        return self._refs(self.rhs)


class FederatedTargetsRel(ManyToOneRel):
    """The join from a source to its through rows, as ``field.path_infos`` reports it.

    It joins exactly as the through model's foreign key to the source does (it is that
    key's relation, ``field`` included, so ``exclude()`` subqueries are built the same
    way), but filters on it compare targets: its ``exact`` and ``in`` lookups are
    ``TargetExact`` and ``TargetIn``. ``is_relation`` is false because Django would
    otherwise insist that the compared objects be rows of the through model.
    """

    is_relation = False

    def __init__(self, m2m_field: Any, source_field: models.ForeignKey) -> None:
        rel = source_field.remote_field
        super().__init__(
            source_field,
            rel.model,
            cast(str, rel.field_name),  # the pk's name once the foreign key is contributed
            related_name=rel.related_name,
            related_query_name=rel.related_query_name,
            limit_choices_to=rel.limit_choices_to,
            on_delete=rel.on_delete,
        )
        self.m2m_field = m2m_field

    @property
    def identity(self) -> tuple[Any, ...]:
        # Not equal to the foreign key's own relation: joins through it are other joins.
        # ForeignObjectRel.identity is not in the stubs.
        return (*super().identity, "federated targets", self.m2m_field)  # type: ignore[misc]

    def get_lookup(self, lookup_name: str) -> type[Lookup] | None:
        """Return ``TargetExact``/``TargetIn``; other lookups are the foreign key's."""
        lookup = _TARGET_LOOKUPS.get(lookup_name)
        return lookup if lookup is not None else super().get_lookup(lookup_name)


_TARGET_LOOKUPS: dict[str, type[Lookup]] = {"exact": TargetExact, "in": TargetIn}


def targets_path_info(m2m_field: Any, filtered_relation: Any = None) -> PathInfo:
    """Return the join from ``m2m_field``'s model to its through rows (one per field)."""
    source_field = m2m_field.link.source_field
    rel = m2m_field.__dict__.get("_targets_rel")
    if rel is None or rel.field is not source_field:
        rel = FederatedTargetsRel(m2m_field, source_field)
        # One relation per field and through model, so that joins compare equal.
        m2m_field.__dict__["_targets_rel"] = rel
    (path,) = source_field.get_reverse_path_info(filtered_relation)
    return path._replace(join_field=rel)
