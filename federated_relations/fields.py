"""The federated fields: drop-ins for ``GenericForeignKey``, ``GenericRelation`` and ``GM2MField``.

Fields declare: they check themselves, contribute to the model class and describe their
joins. Objects are loaded by ``resolver``; accessors live in ``descriptors`` and
``managers``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.base import ModelBase
from django.db.models.fields.related import lazy_related_operation
from django.db.models.sql import AND
from django.db.models.sql.where import WhereNode

from . import resolver
from .descriptors import ReverseFederatedManyToOneDescriptor
from .keys import ObjectIdExact
from .models import GenericContentType
from .reverse_related import FederatedRel

__all__ = ["FederatedForeignKey", "FederatedRelation"]


class FederatedForeignKey(GenericForeignKey):
    """A ``GenericForeignKey`` whose type is a ``GenericContentType``, local or remote.

    Reading gives a model instance for a local type and, through the resolver, a remote
    object for a peer's type; assigning accepts either, or ``None``. It is its own
    descriptor, like ``GenericForeignKey``.
    """

    def get_forward_related_filter(self, obj: Any) -> dict[str, Any]:
        """Return the lookups that select the rows pointing at ``obj``."""
        return {
            self.fk_field: obj.pk,
            self.ct_field: self.get_content_type(obj=obj).pk,
        }

    def _check_object_id_field(self) -> list[checks.CheckMessage]:
        try:
            self.model._meta.get_field(self.fk_field)
        except FieldDoesNotExist:
            return [
                checks.Error(
                    f"The FederatedForeignKey object ID references the nonexistent field "
                    f"'{self.fk_field}'.",
                    obj=self,
                    id="federated_relations.E301",
                )
            ]
        return []

    def _check_content_type_field(self) -> list[checks.CheckMessage]:
        hint = (
            "FederatedForeignKeys must use a ForeignKey to "
            "'federated_relations.GenericContentType' as the 'content_type' field."
        )
        name = f"{self.model._meta.object_name}.{self.ct_field}"
        try:
            field = self.model._meta.get_field(self.ct_field)
        except FieldDoesNotExist:
            return [
                checks.Error(
                    f"The FederatedForeignKey content type references the nonexistent "
                    f"field '{name}'.",
                    obj=self,
                    id="federated_relations.E302",
                )
            ]
        if not isinstance(field, models.ForeignKey):
            return [
                checks.Error(
                    f"'{name}' is not a ForeignKey.", hint=hint, obj=self,
                    id="federated_relations.E303",
                )
            ]
        if field.remote_field.model != GenericContentType:
            return [
                checks.Error(
                    f"'{name}' is not a ForeignKey to "
                    "'federated_relations.GenericContentType'.",
                    hint=hint,
                    obj=self,
                    id="federated_relations.E304",
                )
            ]
        return []

    def get_content_type(
        self, obj: Any = None, id: Any = None, using: str | None = None, model: Any = None
    ) -> GenericContentType:
        """Return the type of ``obj`` (local or remote), of the type ``id`` or of ``model``."""
        if obj is not None:
            return resolver.content_type_of(obj, for_concrete_model=self.for_concrete_model)
        if id is not None:
            return GenericContentType.objects.db_manager(using).get_for_id(id)
        if model is not None:
            return GenericContentType.objects.db_manager(using).get_for_model(
                model, for_concrete_model=self.for_concrete_model
            )
        raise ValueError("get_content_type() needs obj, id or model.")

    def get_prefetch_querysets(
        self, instances: list[models.Model], querysets: list[models.QuerySet] | None = None
    ) -> tuple[Any, ...]:
        """Load the targets of ``instances``: 1 query for the types, then 1 per type."""
        using = instances[0]._state.db
        custom: dict[int, models.QuerySet] = {}
        for queryset in querysets or ():
            ct_id = self.get_content_type(model=queryset.query.model, using=queryset.db).pk
            if ct_id in custom:
                raise ValueError("Only one queryset is allowed for each content type.")
            custom[ct_id] = queryset

        ct_attname = self.model._meta.get_field(self.ct_field).attname
        pks_by_type_id: dict[Any, set[Any]] = defaultdict(set)
        for instance in instances:
            ct_id = getattr(instance, ct_attname)
            pk_val = getattr(instance, self.fk_field)
            if ct_id is not None and pk_val is not None:
                pks_by_type_id[ct_id].add(pk_val)
        types = GenericContentType.objects.db_manager(using).get_for_ids(*pks_by_type_id)
        found = resolver.resolve(
            {types[ct_id]: pks for ct_id, pks in pks_by_type_id.items() if ct_id in types},
            using=using,
            querysets=custom,
        )
        key_by_object = {id(obj): key for key, obj in found.items()}

        def instance_key(instance: models.Model) -> resolver.ObjectKey | None:
            ct_id = getattr(instance, ct_attname)
            if ct_id is None or ct_id not in types:
                return None
            return resolver.key_of(types[ct_id], getattr(instance, self.fk_field))

        return (
            list(found.values()),
            lambda obj: key_by_object[id(obj)],
            instance_key,
            True,
            self.name,
            False,
        )

    def __get__(self, instance: models.Model | None, cls: type | None = None) -> Any:
        if instance is None:
            return self
        # Read the type id, not the type, so the cache of GenericContentType is used.
        ct_id = getattr(instance, self.model._meta.get_field(self.ct_field).attname, None)
        pk_val = getattr(instance, self.fk_field)
        using = instance._state.db

        rel_obj = self.get_cached_value(instance, default=None)
        if rel_obj is None and self.is_cached(instance):
            return rel_obj
        if rel_obj is not None and not self._is_target(rel_obj, ct_id, pk_val, using):
            rel_obj = None  # the type or the id changed since it was cached
        if rel_obj is None and ct_id is not None:
            ct = self.get_content_type(id=ct_id, using=using)
            try:
                rel_obj = resolver.get_object(ct, using=using, pk=pk_val)
            except ObjectDoesNotExist:
                pass
        self.set_cached_value(instance, rel_obj)
        return rel_obj

    def _is_target(self, obj: Any, ct_id: Any, pk_val: Any, using: str | None) -> bool:
        if ct_id is None:
            return False
        ct = resolver.content_type_of(obj, for_concrete_model=self.for_concrete_model, using=using)
        return ct.pk == ct_id and resolver.key_of(ct, obj.pk) == resolver.key_of(ct, pk_val)

    def __set__(self, instance: models.Model, value: Any) -> None:
        ct = fk = None
        if value is not None:
            ct = self.get_content_type(obj=value)
            fk = value.pk
        setattr(instance, self.ct_field, ct)
        setattr(instance, self.fk_field, fk)
        self.set_cached_value(instance, value)


class FederatedRelation(GenericRelation):
    """The reverse side of a ``FederatedForeignKey``: a ``GenericRelation`` drop-in.

    Its joins match only rows whose type is this project's type of the model, so a row
    pointing at a peer's object with pk 100 never joins the local object with pk 100.
    Object ids stored as text join typed primary keys by casting the pk (``keys``).
    """

    rel_class = FederatedRel

    def _is_matching_generic_foreign_key(self, field: Any) -> bool:
        return (
            isinstance(field, FederatedForeignKey)
            and field.ct_field == self.content_type_field_name
            and field.fk_field == self.object_id_field_name
        )

    def _check_generic_foreign_key_existence(self) -> list[checks.CheckMessage]:
        target = self.remote_field.model
        if not isinstance(target, ModelBase) or any(
            self._is_matching_generic_foreign_key(field) for field in target._meta.private_fields
        ):
            return []
        return [
            checks.Error(
                f"The FederatedRelation defines a relation with the model "
                f"'{target._meta.label}', but that model does not have a FederatedForeignKey "
                f"on '{self.content_type_field_name}' and '{self.object_id_field_name}'.",
                obj=self,
                id="federated_relations.E305",
            )
        ]

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        setattr(cls, self.name, ReverseFederatedManyToOneDescriptor(self.remote_field))

        def register_object_id_lookup(
            model: type[models.Model], related_model: type[models.Model]
        ) -> None:
            field = related_model._meta.get_field(self.object_id_field_name)
            field.register_lookup(ObjectIdExact)  # on this field instance only

        lazy_related_operation(register_object_id_lookup, cls, self.remote_field.model)

    def get_content_type(self) -> GenericContentType:
        """Return this project's type of the model the relation is declared on."""
        return GenericContentType.objects.get_for_model(
            self.model, for_concrete_model=self.for_concrete_model
        )

    def get_joining_fields(self, reverse_join: bool = False) -> tuple[Any, ...]:
        # The whole ON clause comes from get_extra_restriction(), which can cast.
        return ()

    def get_reverse_joining_fields(self) -> tuple[Any, ...]:
        return ()

    def get_extra_restriction(self, alias: str | None, remote_alias: str) -> WhereNode:
        """Return the ON condition: this project's type, and object id = pk.

        ``alias`` is the table of this model and ``remote_alias`` the referencing table;
        Django passes ``alias=None`` for exclude() subqueries, which join on their own.
        """
        opts = self.remote_field.model._meta
        ct_field = opts.get_field(self.content_type_field_name)
        content_type_id = self.get_content_type().pk
        conditions: list[Any] = [
            ct_field.get_lookup("exact")(ct_field.get_col(remote_alias), content_type_id)
        ]
        if alias is not None:
            object_id_field = opts.get_field(self.object_id_field_name)
            conditions.append(
                ObjectIdExact(
                    object_id_field.get_col(remote_alias), self.model._meta.pk.get_col(alias)
                )
            )
        return WhereNode(conditions, connector=AND)

    def bulk_related_objects(
        self, objs: list[models.Model], using: str = DEFAULT_DB_ALIAS
    ) -> models.QuerySet:
        """Return the rows that point at ``objs`` (deleted with them by the Collector)."""
        content_type = GenericContentType.objects.db_manager(using).get_for_model(
            self.model, for_concrete_model=self.for_concrete_model
        )
        return self.remote_field.model._base_manager.db_manager(using).filter(
            **{
                f"{self.content_type_field_name}__pk": content_type.pk,
                f"{self.object_id_field_name}__in": [obj.pk for obj in objs],
            }
        )
