"""``FederatedForeignKey`` and ``FederatedRelation``: ``GenericForeignKey`` and
``GenericRelation`` whose type is a ``GenericContentType``, so the target may be remote.

Each field, its descriptor and its related manager live here; objects are loaded by
``resolver``.
"""

from __future__ import annotations

import functools
import weakref
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import django
from django.contrib.contenttypes.fields import (
    GenericForeignKey,
    GenericRelation,
    ReverseGenericManyToOneDescriptor,
    create_generic_related_manager,
)
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.base import ModelBase
from django.db.models.deletion import CASCADE, DO_NOTHING, SET_NULL
from django.db.models.expressions import Expression
from django.db.models.fields.related import (  # type: ignore[attr-defined]  # not in the stubs
    lazy_related_operation,
)
from django.db.models.lookups import Lookup
from django.db.models.query import prefetch_related_objects
from django.db.models.sql import AND
from django.db.models.sql.where import WhereNode
from django.utils.functional import cached_property

from . import resolver
from .keys import ObjectIdExact, RelationExact, RelationIn
from .models import GenericContentType
from .reverse_related import FederatedRel
from .tenancy import (
    CrossTenantError,
    object_id_exact_for,
    same_tenant,
    tenant_field_of,
    tenant_of,
)

__all__ = [
    "REMOTE_DELETE_HANDLERS",
    "FederatedForeignKey",
    "FederatedRelation",
    "ReverseFederatedManyToOneDescriptor",
    "create_federated_related_manager",
]

#: Django 6.1 gives ``GenericForeignKey`` a descriptor honouring ``QuerySet.fetch_mode()``.
_FETCH_MODES = django.VERSION >= (6, 1)
if _FETCH_MODES:
    from django.contrib.contenttypes.fields import (  # type: ignore[attr-defined]
        GenericForeignKeyDescriptor as _GenericForeignKeyDescriptor,
    )
else:
    _GenericForeignKeyDescriptor = object

#: The ``on_remote_delete`` values of ``FederatedForeignKey``: Django's own handlers.
REMOTE_DELETE_HANDLERS = (DO_NOTHING, CASCADE, SET_NULL)


class FederatedForeignKey(GenericForeignKey):
    """A ``GenericForeignKey`` whose type is a ``GenericContentType``, local or remote.

    Reading gives a model instance for a local type and, through the resolver, a remote
    object for a peer's type; assigning accepts either, or ``None``. It is its own
    descriptor, like ``GenericForeignKey``.

    ``on_remote_delete`` says what happens to a row when a peer reports that its target
    was deleted there: ``DO_NOTHING`` (the default: the row stays, ``remote_deleted`` is
    sent), ``CASCADE`` (the row is deleted with Django's collector, so its own relations
    cascade too) or ``SET_NULL`` (both fields are set to ``None``; they must be nullable).
    These are Django's handlers from ``django.db.models``.
    """

    def __init__(
        self,
        ct_field: str = "content_type",
        fk_field: str = "object_id",
        for_concrete_model: bool = True,
        *,
        on_remote_delete: Any = DO_NOTHING,
    ) -> None:
        if on_remote_delete not in REMOTE_DELETE_HANDLERS:
            raise ValueError(
                f"on_remote_delete must be models.DO_NOTHING, models.CASCADE or "
                f"models.SET_NULL; got {on_remote_delete!r}."
            )
        super().__init__(ct_field, fk_field, for_concrete_model)
        self.on_remote_delete = on_remote_delete

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Add the check of ``on_remote_delete=SET_NULL`` to ``GenericForeignKey``'s."""
        return [*super().check(**kwargs), *self._check_on_remote_delete()]

    def _check_on_remote_delete(self) -> list[checks.CheckMessage]:
        if self.on_remote_delete is not SET_NULL:
            return []
        not_null = []
        for name in (self.ct_field, self.fk_field):
            try:
                if not self.model._meta.get_field(name).null:
                    not_null.append(name)
            except FieldDoesNotExist:
                pass  # reported by E301/E302
        if not not_null:
            return []
        return [
            checks.Error(
                f"on_remote_delete=SET_NULL, but {', '.join(repr(n) for n in not_null)} "
                "cannot be null.",
                hint="Set null=True on the content type and object id fields, or choose "
                "another on_remote_delete.",
                obj=self,
                id="federated_relations.E306",
            )
        ]

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

    def get_content_type(  # type: ignore[override]  # GenericContentType stands for ContentType
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
        self,
        instances: list[models.Model] | models.QuerySet,
        querysets: list[models.QuerySet] | None = None,
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
        fk_field = self.fk_field
        pks_by_type_id: dict[Any, set[Any]] = defaultdict(set)
        for instance in instances:
            ct_id = getattr(instance, ct_attname)
            pk_val = getattr(instance, fk_field)
            if ct_id is not None and pk_val is not None:
                pks_by_type_id[ct_id].add(pk_val)
        types = GenericContentType.objects.db_manager(using).get_for_ids(*pks_by_type_id)
        found = resolver.resolve(
            {types[ct_id]: pks for ct_id, pks in pks_by_type_id.items() if ct_id in types},
            using=using,
            querysets=custom,
        )
        key_by_object = {id(obj): key for key, obj in found.items()}
        # resolver.key_of() per instance, with each type's model looked up once.
        key_by_type_id = {ct_id: resolver.key_function(ct) for ct_id, ct in types.items()}

        def instance_key(instance: models.Model) -> resolver.ObjectKey | None:
            key = key_by_type_id.get(getattr(instance, ct_attname))
            return None if key is None else key(getattr(instance, fk_field))

        return (
            list(found.values()),
            lambda obj: key_by_object[id(obj)],
            instance_key,
            True,
            self.name,
            False,
        )

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        """Add the field, and its accessor where Django gives ``GenericForeignKey`` one."""
        super().contribute_to_class(cls, name, **kwargs)
        if _FETCH_MODES:
            # GenericForeignKey is a Field since Django 5.1; django-stubs still types it
            # as a FieldCacheMixin, without attname.
            setattr(cls, self.attname, FederatedForeignKeyDescriptor(self))  # type: ignore[attr-defined]

    def __get__(self, instance: models.Model | None, cls: type | None = None) -> Any:
        if instance is None:
            return self
        if not self._has_current_target(instance):
            self.fetch_one(instance)
        return self.get_cached_value(instance)

    def _has_current_target(self, instance: models.Model) -> bool:
        """Return whether the cache of ``instance`` holds its target (or its lack of one).

        A cached object is stale once the type or the id was changed after it was cached.
        """
        rel_obj = self.get_cached_value(instance, default=None)
        if rel_obj is None:
            return self.is_cached(instance)
        # Read the type id, not the type, so the cache of GenericContentType is used.
        ct_id = getattr(instance, self._ct_attname, None)
        pk_val = getattr(instance, self.fk_field)
        return self._is_target(rel_obj, ct_id, pk_val, instance._state.db)

    def fetch_one(self, instance: models.Model) -> None:
        """Load the target of ``instance`` alone (1 query, or 1 request) into its cache."""
        ct_id = getattr(instance, self._ct_attname, None)
        using = instance._state.db
        rel_obj = None
        if ct_id is not None:
            ct = self.get_content_type(id=ct_id, using=using)
            try:
                rel_obj = resolver.get_target(ct, getattr(instance, self.fk_field), using=using)
            except ObjectDoesNotExist:
                pass
            else:
                if _FETCH_MODES and isinstance(rel_obj, models.Model):
                    # ModelState.fetch_mode is Django 6.1's, not in django-stubs 5.2.
                    rel_obj._state.fetch_mode = instance._state.fetch_mode  # type: ignore[attr-defined]
        self.set_cached_value(instance, rel_obj)

    def fetch_many(self, instances: list[models.Model]) -> None:
        """Load the targets of ``instances`` as ``prefetch_related()`` does (fetch peers).

        Local targets take one query per type, remote ones one batch per (peer, type).
        """
        for instance in instances:
            if self.is_cached(instance) and not self._has_current_target(instance):
                self.delete_cached_value(instance)  # stale: prefetching skips cached ones
        prefetch_related_objects(
            [instance for instance in instances if not self.is_cached(instance)], self.name
        )

    def _is_target(self, obj: Any, ct_id: Any, pk_val: Any, using: str | None) -> bool:
        if ct_id is None:
            return False
        if isinstance(obj, models.Model):
            # Compare models, not type ids: a stored "shared" type names a local model
            # under another id than this project's type of it (get_for_model()).
            ct = self.get_content_type(id=ct_id, using=using)
            model = ct.model_class()
            if model is None:
                return False
            if self.for_concrete_model:
                matches = model._meta.concrete_model is obj._meta.concrete_model
            else:
                matches = model is obj._meta.model
            return matches and resolver.key_of(ct, obj.pk) == resolver.key_of(ct, pk_val)
        ct = resolver.content_type_of(obj, for_concrete_model=self.for_concrete_model, using=using)
        return ct.pk == ct_id and resolver.key_of(ct, obj.pk) == resolver.key_of(ct, pk_val)

    @cached_property
    def _ct_attname(self) -> str:
        """Return the attribute holding the type id (read for every cache check)."""
        return self.model._meta.get_field(self.ct_field).attname

    def __set__(self, instance: models.Model, value: Any) -> None:
        ct = fk = None
        if value is not None:
            ct = self.get_content_type(obj=value)
            fk = value.pk
        setattr(instance, self.ct_field, ct)
        setattr(instance, self.fk_field, fk)
        self.set_cached_value(instance, value)


class FederatedForeignKeyDescriptor(_GenericForeignKeyDescriptor):
    """The accessor of a ``FederatedForeignKey`` on Django 6.1 and later, with fetch modes.

    Django 6.1 moved the accessor of ``GenericForeignKey`` from the field to a descriptor
    that honours the fetch mode of the instance (``QuerySet.fetch_mode()``): ``FETCH_ONE``
    loads the target of the instance read, ``FETCH_PEERS`` the targets of every instance
    fetched with it and ``FETCH_RAISE`` raises ``FieldFetchBlocked``. Loading is the field's.

    ``ModelState.fetch_mode`` and ``peers`` are Django 6.1's: django-stubs 5.2 lacks them.
    """

    field: FederatedForeignKey

    def __get__(self, instance: models.Model | None, cls: type | None = None) -> Any:
        if instance is None:
            return self
        if not self.field._has_current_target(instance):
            instance._state.fetch_mode.fetch(self, instance)  # type: ignore[attr-defined]
        return self.field.get_cached_value(instance)

    def __set__(self, instance: models.Model, value: Any) -> None:
        self.field.__set__(instance, value)

    def fetch_one(self, instance: models.Model) -> None:
        """Load the target of ``instance`` alone."""
        self.field.fetch_one(instance)

    def fetch_many(self, instances: list[models.Model]) -> None:
        """Load the targets of ``instances`` together (``FETCH_PEERS``)."""
        self.field.fetch_many(instances)

    def get_prefetch_querysets(
        self, instances: list[models.Model], querysets: list[models.QuerySet] | None = None
    ) -> tuple[Any, ...]:
        """Return the field's prefetch, its local objects in the fetch mode of ``instances``."""
        prefetch = self.field.get_prefetch_querysets(instances, querysets)
        fetch_mode = instances[0]._state.fetch_mode  # type: ignore[attr-defined]
        by_model: dict[type, list[models.Model]] = defaultdict(list)
        for obj in prefetch[0]:
            if isinstance(obj, models.Model):
                by_model[type(obj)].append(obj)
        # As if each type's query had run with .fetch_mode(): its rows are each other's peers.
        for objs in by_model.values():
            peers = [weakref.ref(obj) for obj in objs]
            for obj in objs:
                obj._state.fetch_mode = fetch_mode  # type: ignore[attr-defined]
                if fetch_mode.track_peers:
                    obj._state.peers = peers  # type: ignore[attr-defined]
        return prefetch


class LocalContentTypeId(Expression):
    """The id of this project's type of ``model``, in the database the query runs on.

    Type ids differ between databases; ``GenericRelation`` puts the default database's
    id in its joins. This is looked up (from the per-database cache) when compiled.
    """

    def __init__(self, model: type[models.Model], for_concrete_model: bool = True) -> None:
        super().__init__(output_field=GenericContentType._meta.pk)
        self.model = model
        self.for_concrete_model = for_concrete_model

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        # connection.alias, not compiler.using: subqueries are compiled with using=None.
        content_type = GenericContentType.objects.db_manager(connection.alias).get_for_model(
            self.model, for_concrete_model=self.for_concrete_model
        )
        return "%s", [content_type.pk]


class FederatedRelation(GenericRelation):
    """The reverse side of a ``FederatedForeignKey``: a ``GenericRelation`` drop-in.

    Its joins match only rows whose type is this project's type of the model, so a row
    pointing at a peer's object with pk 100 never joins the local object with pk 100.
    Object ids stored as text join typed primary keys by casting the pk (``keys``).

    ``tenant_field`` names the rows' tenant field (default: their model's ``TenantMeta``);
    when this model has a tenant too, joins compare both (``tenancy``), the manager reads
    and writes the instance's tenant and refuses rows of another.
    """

    rel_class = FederatedRel

    def __init__(self, *args: Any, tenant_field: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant_field = tenant_field

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        """Name the field by its public path, ``federated_relations.fields``."""
        name, path, args, kwargs = super().deconstruct()
        if path == f"{__name__}.FederatedRelation":
            path = "federated_relations.fields.FederatedRelation"
        if self.tenant_field is not None:
            kwargs["tenant_field"] = self.tenant_field
        return name, path, args, kwargs

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Add the check of ``tenant_field`` (E307) to ``GenericRelation``'s."""
        return [*super().check(**kwargs), *self._check_tenant_field()]

    def _check_tenant_field(self) -> list[checks.CheckMessage]:
        rows = self.remote_field.model
        if self.tenant_field is None or not isinstance(rows, ModelBase):
            return []
        try:
            tenant_field_of(rows, self.tenant_field)
        except FieldDoesNotExist:
            return [
                checks.Error(
                    f"tenant_field={self.tenant_field!r} names no field of "
                    f"'{rows._meta.label}'.",
                    obj=self,
                    id="federated_relations.E307",
                )
            ]
        return []

    def tenant_fields(self) -> tuple[models.Field, models.Field] | None:
        """Return (the rows' tenant field, this model's), or None unless both have one."""
        try:
            model_tenant = tenant_field_of(self.model)
            rows_tenant = tenant_field_of(self.remote_field.model, self.tenant_field)
        except FieldDoesNotExist:
            return None  # reported by the checks (E307)
        if model_tenant is None or rows_tenant is None:
            return None
        return rows_tenant, model_tenant

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

    # As GenericRelation's (in django-stubs too): private_only comes through **kwargs.
    def contribute_to_class(  # type: ignore[override]
        self, cls: type[models.Model], name: str, **kwargs: Any
    ) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        if self.mti_inherited:
            # This is a deep copy of a parent's relation, whose rel may already have cached
            # ``hidden``, ``accessor_name``... of the parent: the copy's reverse side is hidden
            # now, so forget them (else the clash checks see the parent's accessor twice).
            for attribute in ("hidden", "name", "accessor_name", "related_model", "path_infos",
                              "cache_name"):
                self.remote_field.__dict__.pop(attribute, None)
        # Django passes its GenericRel here too; the stubs want a ManyToOneRel.
        setattr(
            cls,
            self.name,
            ReverseFederatedManyToOneDescriptor(self.remote_field),  # type: ignore[arg-type]
        )

        if cls._meta.abstract:
            # Each concrete subclass gets its own copy of the relation, which registers
            # the lookup; a lazy operation on the abstract model would never run (E022).
            return

        def register_object_id_lookup(
            model: type[models.Model], related_model: type[models.Model]
        ) -> None:
            try:
                field = related_model._meta.get_field(self.object_id_field_name)
            except FieldDoesNotExist:
                return  # reported by the check of the relation (E305), not at import
            # The object id of a FederatedForeignKey: a concrete field. Its exclude()
            # subqueries correlate the tenants too when the rows have one.
            tenant = self.tenant_fields()
            lookup = object_id_exact_for(tenant[0].name if tenant else None)
            cast(models.Field, field).register_lookup(lookup)  # on this instance only

        lazy_related_operation(register_object_id_lookup, cls, self.remote_field.model)

    def _check_to_fields_exist(self) -> list[checks.CheckMessage]:
        # GenericRelation sets to_fields to the pk name of *this* model when its joins are
        # first resolved; they are not fields of the related model, so there is nothing
        # to check (Django never runs GenericRelation.check(); check_models runs ours).
        return []

    def get_content_type(self) -> GenericContentType:  # type: ignore[override]  # as above
        """Return this project's type of the model the relation is declared on."""
        return GenericContentType.objects.get_for_model(
            self.model, for_concrete_model=self.for_concrete_model
        )

    def get_joining_fields(self, reverse_join: bool = False) -> tuple[Any, ...]:
        # The whole ON clause comes from get_extra_restriction(), which can cast.
        return ()

    def get_reverse_joining_fields(self) -> tuple[Any, ...]:
        return ()

    def joined_type_id(self) -> Any:
        """Return the type id (resolved per database at compile time) that rows must have."""
        return LocalContentTypeId(self.model, self.for_concrete_model)

    # django-stubs still has the where_class argument Django 4.0 removed.
    def get_extra_restriction(  # type: ignore[override]
        self, alias: str | None, remote_alias: str
    ) -> WhereNode:
        """Return the ON condition: this project's type, object id = pk (and tenant = tenant).

        ``alias`` is the table of this model and ``remote_alias`` the referencing table;
        Django passes ``alias=None`` for exclude() subqueries, which join on their own.
        """
        opts = self.remote_field.model._meta
        # Both are concrete fields of the FederatedForeignKey (checked by E302-E305).
        ct_field = cast(models.ForeignKey, opts.get_field(self.content_type_field_name))
        type_exact = cast(type[Lookup], ct_field.get_lookup("exact"))
        conditions: list[Any] = [
            type_exact(ct_field.get_col(remote_alias), self.joined_type_id())
        ]
        if alias is not None:
            object_id_field = cast(models.Field, opts.get_field(self.object_id_field_name))
            conditions.append(
                ObjectIdExact(
                    object_id_field.get_col(remote_alias), self.model._meta.pk.get_col(alias)
                )
            )
            tenants = self.tenant_fields()
            if tenants is not None:
                rows_tenant, model_tenant = tenants
                conditions.append(same_tenant(rows_tenant, remote_alias, model_tenant, alias))
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

FederatedRelation.register_lookup(RelationExact)
FederatedRelation.register_lookup(RelationIn)


class ReverseFederatedManyToOneDescriptor(ReverseGenericManyToOneDescriptor):
    """Accessor to the manager of the rows that point at an instance."""

    @cached_property
    def related_manager_cls(self) -> Any:
        return create_federated_related_manager(
            self.rel.model._default_manager.__class__, self.rel
        )


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
            #: ``{rows' tenant column: the instance's tenant}`` when both have a tenant.
            self.tenant: dict[str, Any] = {}
            tenants = rel.field.tenant_fields()
            if tenants is not None:
                rows_tenant, model_tenant = tenants
                self.rows_tenant = rows_tenant
                self.tenant = {rows_tenant.attname: tenant_of(instance, model_tenant)}
                self.core_filters.update(self.tenant)

        def _check_tenant(self, obj: Any) -> None:
            if self.tenant and isinstance(obj, self.model):
                ((column, tenant),) = self.tenant.items()
                if getattr(obj, column) != tenant:
                    raise CrossTenantError(
                        f"Cannot relate {obj!r} (tenant {getattr(obj, column)!r}) to "
                        f"{self.instance!r} (tenant {tenant!r}): they belong to different "
                        "tenants."
                    )

        def _with_tenant(self, kwargs: dict[str, Any]) -> dict[str, Any]:
            """Return create()'s kwargs with the instance's tenant, refusing another one."""
            if not self.tenant:
                return kwargs
            ((column, tenant),) = self.tenant.items()
            name = self.rows_tenant.name
            if name in kwargs or column in kwargs:
                given = kwargs.get(column, kwargs.get(name))
                if getattr(given, "pk", given) != tenant:
                    raise CrossTenantError(
                        f"Cannot create a {self.model._meta.object_name} of tenant "
                        f"{given!r} for {self.instance!r} (tenant {tenant!r})."
                    )
                return kwargs
            return {**kwargs, column: tenant}

        def add(self, *objs: Any, bulk: bool = True) -> None:
            for obj in objs:
                self._check_tenant(obj)
            super().add(*objs, bulk=bulk)

        add.alters_data = True  # type: ignore[attr-defined]

        def create(self, **kwargs: Any) -> Any:
            return super().create(**self._with_tenant(kwargs))

        create.alters_data = True  # type: ignore[attr-defined]

        def get_or_create(self, **kwargs: Any) -> Any:
            return super().get_or_create(**self._with_tenant(kwargs))

        get_or_create.alters_data = True  # type: ignore[attr-defined]

        def update_or_create(self, **kwargs: Any) -> Any:
            return super().update_or_create(**self._with_tenant(kwargs))

        update_or_create.alters_data = True  # type: ignore[attr-defined]

        def get_prefetch_querysets(
            self, instances: list[Any], querysets: list[models.QuerySet] | None = None
        ) -> Any:
            """Load the rows of ``instances``, filtered on their tenants when rows have one."""
            if self.tenant and not (querysets and len(querysets) != 1):
                tenants = rel.field.tenant_fields()
                assert tenants is not None  # self.tenant says both have one
                rows_tenant, model_tenant = tenants
                queryset = (
                    querysets[0] if querysets else super(generic_manager, self).get_queryset()
                )
                of_tenants = {tenant_of(i, model_tenant) for i in instances}
                querysets = [queryset.filter(**{f"{rows_tenant.attname}__in": of_tenants})]
            return super().get_prefetch_querysets(instances, querysets)

        def __call__(self, *, manager: str) -> Any:
            manager_class = create_federated_related_manager(
                getattr(self.model, manager).__class__, rel
            )
            return manager_class(instance=self.instance)

    return FederatedRelatedObjectManager

