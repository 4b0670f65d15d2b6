"""The federated fields: drop-ins for ``GenericForeignKey``, ``GenericRelation`` and ``GM2MField``.

Fields declare: they check themselves, contribute to the model class and describe their
joins. Objects are loaded by ``resolver``; accessors live in ``descriptors`` and
``managers``.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from typing import Any

import django
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.base import ModelBase
from django.db.models.deletion import CASCADE, DO_NOTHING, SET_NULL
from django.db.models.expressions import Expression
from django.db.models.fields.related import RelatedField, lazy_related_operation
from django.db.models.query import prefetch_related_objects
from django.db.models.query_utils import PathInfo
from django.db.models.sql import AND
from django.db.models.sql.where import WhereNode
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from . import resolver
from .descriptors import (
    FederatedManyToManyDescriptor,
    ReverseFederatedManyToManyDescriptor,
    ReverseFederatedManyToOneDescriptor,
)
from .keys import ObjectIdExact, RelationExact, RelationIn, pk_to_string
from .lookups import targets_path_info
from .models import GenericContentType
from .reverse_related import FederatedManyToManyRel, FederatedRel
from .through import ThroughLink, create_federated_through_model

#: Django 6.1 gives ``GenericForeignKey`` a descriptor honouring ``QuerySet.fetch_mode()``.
_FETCH_MODES = django.VERSION >= (6, 1)

#: Held while reverse relations are added to models (at load time, by add() in a
#: request, by the restore of added_relations): re-entrant, as adding one may add others.
RELATIONS_LOCK = threading.RLock()
if _FETCH_MODES:
    from django.contrib.contenttypes.fields import (  # type: ignore[attr-defined]
        GenericForeignKeyDescriptor as _GenericForeignKeyDescriptor,
    )
else:
    _GenericForeignKeyDescriptor = object

#: The ``on_remote_delete`` values of ``FederatedForeignKey``: Django's own handlers.
REMOTE_DELETE_HANDLERS = (DO_NOTHING, CASCADE, SET_NULL)

__all__ = [
    "REMOTE_DELETE_HANDLERS",
    "FederatedForeignKey",
    "FederatedManyToManyField",
    "FederatedManyToManyReverse",
    "FederatedRelation",
    "remote_reverse_accessor",
]


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
            setattr(cls, self.attname, FederatedForeignKeyDescriptor(self))

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
                    rel_obj._state.fetch_mode = instance._state.fetch_mode
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


class FederatedForeignKeyDescriptor(_GenericForeignKeyDescriptor):  # type: ignore[misc,valid-type]
    """The accessor of a ``FederatedForeignKey`` on Django 6.1 and later, with fetch modes.

    Django 6.1 moved the accessor of ``GenericForeignKey`` from the field to a descriptor
    that honours the fetch mode of the instance (``QuerySet.fetch_mode()``): ``FETCH_ONE``
    loads the target of the instance read, ``FETCH_PEERS`` the targets of every instance
    fetched with it and ``FETCH_RAISE`` raises ``FieldFetchBlocked``. Loading is the field's.
    """

    field: FederatedForeignKey

    def __get__(self, instance: models.Model | None, cls: type | None = None) -> Any:
        if instance is None:
            return self
        if not self.field._has_current_target(instance):
            instance._state.fetch_mode.fetch(self, instance)
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
        fetch_mode = instances[0]._state.fetch_mode
        by_model: dict[type, list[models.Model]] = defaultdict(list)
        for obj in prefetch[0]:
            if isinstance(obj, models.Model):
                by_model[type(obj)].append(obj)
        # As if each type's query had run with .fetch_mode(): its rows are each other's peers.
        for objs in by_model.values():
            peers = [weakref.ref(obj) for obj in objs]
            for obj in objs:
                obj._state.fetch_mode = fetch_mode
                if fetch_mode.track_peers:
                    obj._state.peers = peers
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
        if self.mti_inherited:
            # This is a deep copy of a parent's relation, whose rel may already have cached
            # ``hidden``, ``accessor_name``... of the parent: the copy's reverse side is hidden
            # now, so forget them (else the clash checks see the parent's accessor twice).
            for attribute in ("hidden", "name", "accessor_name", "related_model", "path_infos",
                              "cache_name"):
                self.remote_field.__dict__.pop(attribute, None)
        setattr(cls, self.name, ReverseFederatedManyToOneDescriptor(self.remote_field))

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
            field.register_lookup(ObjectIdExact)  # on this field instance only

        lazy_related_operation(register_object_id_lookup, cls, self.remote_field.model)

    def _check_to_fields_exist(self) -> list[checks.CheckMessage]:
        # GenericRelation sets to_fields to the pk name of *this* model when its joins are
        # first resolved; they are not fields of the related model, so there is nothing
        # to check (Django never runs GenericRelation.check(); check_models runs ours).
        return []

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

    def joined_type_id(self) -> Any:
        """Return the type id (resolved per database at compile time) that rows must have."""
        return LocalContentTypeId(self.model, self.for_concrete_model)

    def get_extra_restriction(self, alias: str | None, remote_alias: str) -> WhereNode:
        """Return the ON condition: this project's type, and object id = pk.

        ``alias`` is the table of this model and ``remote_alias`` the referencing table;
        Django passes ``alias=None`` for exclude() subqueries, which join on their own.
        """
        opts = self.remote_field.model._meta
        ct_field = opts.get_field(self.content_type_field_name)
        conditions: list[Any] = [
            ct_field.get_lookup("exact")(ct_field.get_col(remote_alias), self.joined_type_id())
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


# relation=obj and relation__in=[...] compare with the right pk field on both sides.
FederatedRelation.register_lookup(RelationExact)
FederatedRelation.register_lookup(RelationIn)


# --- FederatedManyToManyField -------------------------------------------------------------

#: The ``related_name`` of a ``FederatedManyToManyRel``: hidden, so that the relation it
#: records on ``GenericContentType`` (for migration dependencies) never clashes there.
_HIDDEN_REL_NAME = "_%(app_label)s_%(class)s_{name}_federated_+"
#: Django 6 dropped the column of ``ManyToManyField``; the field follows the running Django.
_M2M_FIELDS_HAVE_NO_COLUMN = django.VERSION >= (6, 0)
#: Django 6.1's autodetector reads ``deconstruct()[2]["to"]`` of every many-to-many field.
_M2M_DECONSTRUCTION_HAS_TO = django.VERSION >= (6, 1)
#: The ``to`` of that deconstruction: the model the through rows type their targets with.
_TYPE_MODEL_LABEL = "federated_relations.genericcontenttype"


class FederatedManyToManyField(RelatedField):
    """A many-to-many relation to objects of any model, local or remote: the ``GM2MField``
    drop-in.

    Django treats it as a many-to-many field (``_meta.local_many_to_many``, an auto-created
    through model), so migrations create, drop and rename its table with the schema editor
    alone. Targets are stored as (``GenericContentType``, pk string) rows; each target model
    gets a private ``FederatedManyToManyReverse`` field giving the reverse accessor, joins
    and deletion handling.
    """

    many_to_many = True
    many_to_one = False
    one_to_many = False
    one_to_one = False

    rel_class = FederatedManyToManyRel
    description = _("Federated many-to-many relationship")

    def __init__(
        self,
        *related_models: Any,
        through: Any = None,
        through_fields: Any = None,
        on_delete: Any = CASCADE,
        on_delete_src: Any = None,
        on_delete_tgt: Any = None,
        related_name: str | None = None,
        related_query_name: str | None = None,
        db_table: str | None = None,
        db_constraint: bool = True,
        pk_maxlength: int | None = 16,
        for_concrete_model: bool = True,
        verbose_name: Any = None,
        blank: bool = False,
        **kwargs: Any,
    ) -> None:
        for model in related_models:
            if not isinstance(model, str) and not (
                isinstance(model, ModelBase) and not model._meta.abstract
            ):
                raise TypeError(
                    f"{type(self).__name__}({model!r}) is invalid: targets must be concrete "
                    "models or 'app_label.Model' strings."
                )
        if through is not None and (db_table is not None or pk_maxlength != 16):
            raise ValueError(
                "Cannot specify a db_table nor a pk_maxlength if an intermediary model is used."
            )
        kwargs["rel"] = self.rel_class(
            self,
            "federated_relations.GenericContentType",
            through=through,
            through_fields=list(through_fields) if through_fields else None,
            db_constraint=db_constraint,
        )
        kwargs.pop("null", None)  # accepted when a migration replays an old deconstruction
        to = kwargs.pop("to", _TYPE_MODEL_LABEL)  # written by deconstruct() on Django 6.1
        if not isinstance(to, str) or to.lower() != _TYPE_MODEL_LABEL:
            raise TypeError(
                f"{type(self).__name__}(to={to!r}) is invalid: pass the target models as "
                "positional arguments."
            )
        super().__init__(verbose_name=verbose_name, blank=blank, **kwargs)
        self.declared_models = list(related_models)
        self.target_related_name_init = related_name
        self.target_related_query_name_init = related_query_name
        self.target_related_name = related_name
        self.target_related_query_name = related_query_name
        self.db_table = db_table
        self.pk_maxlength = pk_maxlength
        self.for_concrete_model = for_concrete_model
        self.on_delete = on_delete
        self.on_delete_src = on_delete_src or on_delete
        self.on_delete_tgt = on_delete_tgt or on_delete
        self._on_delete_src = on_delete_src
        self._on_delete_tgt = on_delete_tgt
        #: {target model: its FederatedManyToManyReverse}
        self.reverse_fields: dict[type[models.Model], FederatedManyToManyReverse] = {}
        self._link: ThroughLink | None = None

    # -- declaration ----------------------------------------------------------------------

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        """Add the field, its accessor, its through model and the declared reverse relations."""
        self.remote_field.related_name = _HIDDEN_REL_NAME.format(name=name)
        self.reverse_fields = {}
        self._link = None
        super().contribute_to_class(cls, name, **kwargs)
        setattr(cls, self.name, FederatedManyToManyDescriptor(self))
        if cls._meta.abstract or cls._meta.swapped:
            return
        labels = {"class": cls.__name__.lower(), "app_label": cls._meta.app_label.lower()}
        if self.target_related_name_init:
            self.target_related_name = self.target_related_name_init % labels
        if self.target_related_query_name_init:
            self.target_related_query_name = self.target_related_query_name_init % labels
        through = self.remote_field.through
        if through is None:
            self.remote_field.through = create_federated_through_model(self, cls)
            self._through_ready()
        else:

            def resolve_through(model: Any, through_model: Any, field: Any) -> None:
                field.remote_field.through = through_model
                field._through_ready()

            lazy_related_operation(resolve_through, cls, through, field=self)

    def _through_ready(self) -> None:
        # Historical models get the declared relations too: RunPython code uses their
        # reverse accessors (gm2m #14).
        for model in self.declared_models:
            self.add_relation(model, _declared=True)

    def contribute_to_related_class(self, cls: Any, related: Any) -> None:
        """Add nothing to ``GenericContentType``: reverse relations are per target model."""

    def add_relation(
        self, model: Any, on_delete: Any = None, auto: bool = False, _declared: bool = False
    ) -> None:
        """Give ``model`` (a class or "app_label.Model") a reverse relation to this field."""

        def add(source: Any, target: type[models.Model]) -> None:
            self._add_reverse(target, on_delete=on_delete, added=not _declared, auto=auto)

        lazy_related_operation(add, self.model, model)

    def _add_reverse(
        self, target: type[models.Model], on_delete: Any, added: bool, auto: bool
    ) -> None:
        # add() and the restore on connection_created run in any thread: checking and
        # adding under one lock gives the model one reverse field, not one per thread.
        with RELATIONS_LOCK:
            self._add_reverse_locked(target, on_delete, added, auto)

    def _add_reverse_locked(
        self, target: type[models.Model], on_delete: Any, added: bool, auto: bool
    ) -> None:
        if self.for_concrete_model:
            target = target._meta.concrete_model
        if target in self.reverse_fields:
            return
        if target._meta.abstract:
            raise TypeError(f"Cannot relate {self} to the abstract model {target.__name__}.")
        reverse = FederatedManyToManyReverse(self, on_delete=on_delete, added=added, auto=auto)
        self.reverse_fields[target] = reverse
        name = self.related_query_name()
        reverse.contribute_to_class(target, name)
        # The Collector reads the private fields of the class it deletes: give the existing
        # proxies of the target the reverse relation too (later ones inherit it).
        registered = target._meta.apps.all_models.values()  # usable while models load
        for proxy in [model for app_models in registered for model in app_models.values()]:
            if (
                proxy._meta.proxy
                and proxy._meta.concrete_model is target
                and not any(f.name == name for f in proxy._meta.private_fields)
            ):
                FederatedManyToManyReverse(
                    self, on_delete=on_delete, added=added, auto=auto
                ).contribute_to_class(proxy, name)

    def get_related_models(self, include_auto: bool = False) -> list[type[models.Model]]:
        """Return the models with a reverse relation (those added automatically if asked)."""
        return [
            model
            for model, reverse in self.reverse_fields.items()
            if include_auto or not reverse.auto
        ]

    @property
    def link(self) -> ThroughLink:
        """Return the roles of the through model's fields (source, type, object id)."""
        if self._link is None:
            through = self.remote_field.through
            if isinstance(through, str) or through is None:
                raise ValueError(f"The through model of {self} is not installed: {through!r}.")
            self._link = ThroughLink.for_through(
                through, self.model, self.remote_field.through_fields
            )
        return self._link

    def related_query_name(self) -> str:
        """Return the name that filters a target model by this relation (``user__...``)."""
        return (
            self.target_related_query_name
            or self.target_related_name
            or self.model._meta.model_name
        )

    def get_accessor_name(self) -> str | None:
        """Return the reverse accessor of target objects, ``None`` when hidden ('+')."""
        if self.target_related_name:
            if self.target_related_name.endswith("+"):
                return None
            return self.target_related_name
        return f"{self.model._meta.model_name}_set"

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        """Return the arguments that rebuild this field (declared targets as labels)."""
        name, path, args, kwargs = super().deconstruct()
        path = "federated_relations.fields.FederatedManyToManyField"
        for key in ("related_name", "related_query_name", "limit_choices_to", "null"):
            kwargs.pop(key, None)
        args = [self._label(model) for model in self.declared_models]
        through = self.remote_field.through
        if through is not None:
            if isinstance(through, str):
                kwargs["through"] = through
            elif not through._meta.auto_created:
                kwargs["through"] = through._meta.label
        if self.remote_field.through_fields:
            kwargs["through_fields"] = list(self.remote_field.through_fields)
        if self.on_delete is not CASCADE:
            kwargs["on_delete"] = self.on_delete
        if self._on_delete_src is not None:
            kwargs["on_delete_src"] = self._on_delete_src
        if self._on_delete_tgt is not None:
            kwargs["on_delete_tgt"] = self._on_delete_tgt
        for key, value in (
            ("related_name", self.target_related_name_init),
            ("related_query_name", self.target_related_query_name_init),
        ):
            if value is not None:
                kwargs[key] = value
        if self.db_table is not None:
            kwargs["db_table"] = self.db_table
        if not self.remote_field.db_constraint:
            kwargs["db_constraint"] = False
        if self.pk_maxlength != 16:
            kwargs["pk_maxlength"] = self.pk_maxlength
        if not self.for_concrete_model:
            kwargs["for_concrete_model"] = False
        if _M2M_DECONSTRUCTION_HAS_TO:
            # Django 6.1 recreates a many-to-many field whose "to" changed, as its table
            # references that model. This field relates to the type model whatever its
            # declared targets are (its table keeps them as rows), so "to" is that model and
            # a change of targets stays an AlterField. Older Django never reads "to": their
            # migrations stay as they were.
            kwargs["to"] = _TYPE_MODEL_LABEL
        return name, path, args, kwargs

    def _label(self, model: Any) -> str:
        if isinstance(model, str):
            if "." not in model:
                model = f"{self.model._meta.app_label}.{model}"
            return model.lower()
        return model._meta.label_lower

    # -- database -------------------------------------------------------------------------

    def get_attname_column(self) -> tuple[str, str | None]:
        """Return the attribute name and column as ``ManyToManyField`` does on this Django.

        Django 6 gives a many-to-many field no column, so it is not ``concrete``, and its
        schema editors rely on that: SQLite's would otherwise copy a column that does not
        exist when it rebuilds the source table (``AddField`` with a custom ``through``).
        Django 5.2's editors still expect a column (``_field_should_be_altered`` skips
        non-concrete fields, which would make ``AlterField`` a no-op).
        """
        attname, column = super().get_attname_column()
        return attname, (None if _M2M_FIELDS_HAVE_NO_COLUMN else column)

    def db_type(self, connection: Any) -> None:
        """Return ``None``: the relation lives in the through table, not in a column."""
        return None

    def get_internal_type(self) -> str:
        """Return "ManyToManyField": what Django's tools expect of a many-to-many field."""
        return "ManyToManyField"

    def m2m_db_table(self) -> str:
        """Return the through table's name."""
        return self.remote_field.through._meta.db_table

    def m2m_field_name(self) -> str:
        """Return the name of the through model's foreign key to the source model."""
        return self.link.source

    def m2m_column_name(self) -> str:
        """Return the column of the through model's foreign key to the source model."""
        return self.link.source_field.column

    def m2m_reverse_field_name(self) -> str:
        """Return the through field holding the target pk (altered with ``pk_maxlength``)."""
        return self.link.object_id

    def m2m_reverse_name(self) -> str:
        """Return the through columns identifying the target: type id, then object id.

        A column list, because the SQLite schema editor copies ``id``, ``m2m_column_name()``
        and ``m2m_reverse_name()`` when it rebuilds a renamed through table.
        """
        return f"{self.link.content_type_field.column}, {self.link.object_id_field.column}"

    def get_path_info(self, filtered_relation: Any = None) -> list[PathInfo]:
        """Join the source model to the through rows (``user.videos__object_id=...``).

        The join's ``join_field`` compares targets (``lookups.FederatedTargetsRel``):
        ``videos=movie``, ``videos__in=[movie, remote(...)]``, ``exclude(videos=movie)``.
        """
        return [targets_path_info(self, filtered_relation)]

    @cached_property
    def path_infos(self) -> list[PathInfo]:
        """Return the joins from the source model to the through rows (cached)."""
        return self.get_path_info()

    def get_reverse_path_info(self, filtered_relation: Any = None) -> list[PathInfo]:
        """Join the type table to the source model through the through rows."""
        link = self.link
        return [
            *link.content_type_field.get_reverse_path_info(filtered_relation),
            *link.source_field.get_path_info(filtered_relation),
        ]

    @cached_property
    def reverse_path_infos(self) -> list[PathInfo]:
        """Return the joins from the type table to the source model (cached)."""
        return self.get_reverse_path_info()

    # -- forms and serialization ----------------------------------------------------------

    def value_from_object(self, obj: models.Model) -> list[Any]:
        """Return the targets of ``obj`` (what a form shows as initial value)."""
        return [] if obj.pk is None else list(getattr(obj, self.attname).all())

    def save_form_data(self, instance: models.Model, data: Any) -> None:
        """Replace the targets of ``instance`` with ``data``.

        When ``data`` comes from the form field (a ``FederatedFormSelection``), only the
        targets the form offered are replaced: the others (remote objects, objects of
        models the form does not list) are kept, as the form never showed them.
        """
        manager = getattr(instance, self.attname)
        offered = getattr(data, "offered", None)
        if offered is None:
            manager.set(data or ())
        else:
            manager.set(data, among=offered)

    def formfield(self, **kwargs: Any) -> Any:
        """Return a multiple choice field over the objects of the related local models."""
        from .forms import FederatedMultipleChoiceField

        defaults = {
            "form_class": FederatedMultipleChoiceField,
            "target_models": self.get_related_models(),
            "for_concrete_model": self.for_concrete_model,
            "required": not self.blank,
            "label": capfirst(self.verbose_name),
            "help_text": self.help_text,
        }
        defaults.update(kwargs)
        form_class = defaults.pop("form_class")
        if not isinstance(form_class, type) or not issubclass(
            form_class, FederatedMultipleChoiceField
        ):
            form_class = FederatedMultipleChoiceField
        for key in ("widget_kwargs", "queryset", "limit_choices_to", "choices_form_class"):
            defaults.pop(key, None)
        return form_class(**defaults)

    # -- checks ---------------------------------------------------------------------------

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Run Field's checks, gm2m's and the pk length's, under ``federated_relations.E…`` ids."""
        return [
            *models.Field.check(self, **kwargs),
            *self._check_unique(),
            *self._check_relationship_model(),
            *self._check_relations(),
            *self._check_target_pk_lengths(),
        ]

    def _check_unique(self) -> list[checks.CheckMessage]:
        if self.unique:
            return [
                checks.Error(
                    "FederatedManyToManyFields cannot be unique.",
                    obj=self,
                    id="federated_relations.E001",
                )
            ]
        return []

    def _check_relationship_model(self) -> list[checks.CheckMessage]:
        from .checks import check_through_model

        return check_through_model(self)

    def _check_relations(self) -> list[checks.CheckMessage]:
        from .checks import check_reverse_relations

        return check_reverse_relations(self)

    def _check_target_pk_lengths(self) -> list[checks.CheckMessage]:
        from .checks import check_target_pk_lengths

        return check_target_pk_lengths(self)


class FederatedManyToManyReverse(FederatedRelation):
    """The reverse side of a ``FederatedManyToManyField`` on one target model (private).

    A ``FederatedRelation`` to the through model, so joins from the target reuse its ON
    clause (this project's type only, object id = pk cast to text), extended by the
    through model's foreign key to the source: ``Movie.objects.filter(user__name="x")``.
    Its ``bulk_related_objects`` applies the field's ``on_delete_tgt`` handler when targets
    are deleted through Django's ``Collector``. The accessor (``movie.user_set``) is a
    ``ReverseFederatedManyToManyDescriptor``.
    """

    auto_created = True

    def __init__(
        self,
        m2m_field: FederatedManyToManyField,
        on_delete: Any = None,
        added: bool = False,
        auto: bool = False,
    ) -> None:
        link = m2m_field.link
        super().__init__(
            link.through,
            object_id_field=link.object_id,
            content_type_field=link.content_type,
            for_concrete_model=m2m_field.for_concrete_model,
        )
        self.m2m_field = m2m_field
        self.on_delete_tgt = on_delete
        self.added = added
        self.auto = auto

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        """Add the private field and the accessor (not ``GenericRelation``'s descriptor)."""
        kwargs["private_only"] = True
        RelatedField.contribute_to_class(self, cls, name, **kwargs)
        self.model = cls
        accessor = self.m2m_field.get_accessor_name()
        if accessor and not self.m2m_field.model._meta.swapped:
            setattr(cls, accessor, ReverseFederatedManyToManyDescriptor(self))

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Return no errors: ``FederatedManyToManyField.check()`` checks the relation."""
        return []

    @property
    def handler(self) -> Any:
        """Return the deletion handler for targets of this model."""
        return self.on_delete_tgt or self.m2m_field.on_delete_tgt

    def get_content_type(self) -> Any:
        """Return the type of this target model in the through model's type table."""
        return self.m2m_field.link.type_for_model(
            self.model, for_concrete_model=self.for_concrete_model
        )

    def joined_type_id(self) -> Any:
        """Return ``FederatedRelation``'s type id; gm2m-style rows hold ContentType ids."""
        if self.m2m_field.link.is_generic:
            return super().joined_type_id()
        return self.get_content_type().pk

    def get_path_info(self, filtered_relation: Any = None) -> list[PathInfo]:
        """Join the target to the through rows (typed ON clause), then to the source."""
        return [
            *super().get_path_info(filtered_relation),
            *self.m2m_field.link.source_field.get_path_info(filtered_relation),
        ]

    def bulk_related_objects(
        self, objs: list[models.Model], using: str = DEFAULT_DB_ALIAS
    ) -> models.QuerySet:
        """Return the through rows the Collector deletes with ``objs`` (per the handler)."""
        from .deletion import target_rows_to_delete

        link = self.m2m_field.link
        type_id = link.type_for_model(self.model, self.for_concrete_model, using=using).pk
        rows = link.through._base_manager.db_manager(using).filter(
            **{
                link.content_type_field.attname: type_id,
                f"{link.object_id}__in": [pk_to_string(obj._meta.pk, obj.pk) for obj in objs],
            }
        )
        return target_rows_to_delete(self.m2m_field, self.handler, objs, rows)


def remote_reverse_accessor(obj: Any, name: str) -> Any:
    """Return ``obj.<name>`` for a remote object: the reverse manager of a local field.

    Every ``FederatedManyToManyField`` whose through model types targets with
    ``GenericContentType`` gives remote objects its accessor (``related_name`` or
    ``<source model>_set``), whatever models it declares. ``None`` if there is none.
    """
    from django.apps import apps

    from .managers import create_federated_reverse_m2m_manager

    for model in apps.get_models():
        for field in model._meta.local_many_to_many:
            if (
                isinstance(field, FederatedManyToManyField)
                and field.model is model
                and field.get_accessor_name() == name
                and field.link.is_generic
            ):
                return create_federated_reverse_m2m_manager(field)(obj)
    return None
