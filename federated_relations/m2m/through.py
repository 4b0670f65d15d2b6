"""The through table of a ``FederatedManyToManyField`` and how its columns are read.

``create_federated_through_model`` is what ``create_many_to_many_intermediary_model`` is to
``ManyToManyField``: one auto-created model per field (``_meta.auto_created`` is the source
model), so Django's schema editor creates, drops and renames its table in migrations like
any many-to-many table. ``ThroughLink`` names the four roles of a through model (source
foreign key, federated or generic foreign key, its type and object-id columns) for the
auto-created model and for custom ``through=`` models alike, including those written for
django-gm2m (a ``ContentType`` foreign key and a ``GenericForeignKey``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.db.backends import utils as backend_utils
from django.db.migrations.state import StateApps

from .. import resolver
from ..generic import FederatedForeignKey
from ..keys import pk_to_string
from ..models import GenericContentType
from ..tenancy import (
    THROUGH_TENANT_ATTRIBUTE,
    TenantJoinForeignKey,
    declared_tenant_name,
    object_id_exact_for,
)
from .managers import MissingTarget

if TYPE_CHECKING:
    from .fields import FederatedManyToManyField

__all__ = [
    "CONTENT_TYPE_FIELD",
    "OBJECT_ID_FIELD",
    "TARGET_FIELD",
    "ThroughLink",
    "create_federated_through_model",
    "m2m_db_table",
]

#: Names of the target columns of an auto-created through model.
CONTENT_TYPE_FIELD = "content_type"
OBJECT_ID_FIELD = "object_id"
TARGET_FIELD = "target"


def m2m_db_table(field: FederatedManyToManyField, opts: Any) -> str:
    """Return the table of ``field``'s through model, named as Django names M2M tables."""
    through = field.remote_field.through
    if through is not None and not isinstance(through, str):
        return through._meta.db_table
    if field.db_table:
        return field.db_table
    name = f"{backend_utils.strip_quotes(opts.db_table)}_{field.name}"
    return backend_utils.truncate_name(name, connection.ops.max_name_length())


def create_federated_through_model(
    field: FederatedManyToManyField, klass: type[models.Model]
) -> type[models.Model]:
    """Create the through model of ``field`` on ``klass`` (source FK, type FK, pk string).

    For a tenant-aware field the rows carry the source's tenant: a column of their own
    (the source is the tenant itself: its foreign key is that column), first in the
    unique constraint and in the index of targets, as Citus needs the distribution column
    in every unique constraint; the source foreign key joins on it too.
    """
    name = f"{klass._meta.object_name}_{field.name}"
    source = cast(str, klass._meta.model_name)  # set on every model class
    if source in (CONTENT_TYPE_FIELD, OBJECT_ID_FIELD, TARGET_FIELD):
        source = f"from_{source}"
    db_table = m2m_db_table(field, klass._meta)
    try:
        source_tenant = field.source_tenant_field
    except FieldDoesNotExist:
        source_tenant = None  # a tenant_field naming no field: the check says so (E111)
    tenant: str | None = None
    if source_tenant is not None:
        tenant = source if source_tenant.primary_key else source_tenant.name
    unique: tuple[str, ...] = (source, CONTENT_TYPE_FIELD, OBJECT_ID_FIELD)
    indexes: list[models.Index] = []
    if tenant is not None:
        unique = tuple(dict.fromkeys((tenant, *unique)))
        indexes = [
            models.Index(
                fields=[tenant, CONTENT_TYPE_FIELD, OBJECT_ID_FIELD],
                name=backend_utils.truncate_name(f"{db_table}_tenant_target", 30),
            )
        ]
    meta = type(
        "Meta",
        (),
        {
            "db_table": db_table,
            "auto_created": klass,
            "app_label": klass._meta.app_label,
            "db_tablespace": klass._meta.db_tablespace,
            "managed": klass._meta.managed,
            "unique_together": (unique,),
            "indexes": indexes,
            "verbose_name": f"{source}-federated relationship",
            "verbose_name_plural": f"{source}-federated relationships",
            "apps": klass._meta.apps,
        },
    )

    # Field.db_tablespace is a property the stubs lack.
    tablespace = field.db_tablespace  # type: ignore[attr-defined]

    def __str__(self: models.Model) -> str:
        # Read in the admin's delete confirmation of a source or a target: name both
        # sides, with the target's type from the type cache (no request to a peer).
        target_type = GenericContentType.objects.db_manager(self._state.db).get_for_id(
            getattr(self, f"{CONTENT_TYPE_FIELD}_id")
        )
        return (
            f"{getattr(self, source)} → {target_type.project}:{target_type.app_label}."
            f"{target_type.model} {getattr(self, OBJECT_ID_FIELD)}"
        )

    source_options: dict[str, Any] = {
        "related_name": f"{name}+",
        "db_tablespace": tablespace,
        "db_constraint": field.remote_field.db_constraint,
        "on_delete": field.on_delete_src,
    }
    tenant_columns: dict[str, models.Field] = {}
    if source_tenant is not None and tenant != source:
        source_fk: models.ForeignKey = TenantJoinForeignKey(
            klass,
            through_tenant=cast(str, tenant),
            source_tenant=source_tenant.name,
            **source_options,
        )
        tenant_columns[cast(str, tenant)] = _tenant_column(source_tenant, name, field)
    else:
        source_fk = models.ForeignKey(klass, **source_options)
    through: type[models.Model] = type(
        name,
        (models.Model,),
        {
            "Meta": meta,
            "__module__": klass.__module__,
            "__str__": __str__,
            source: source_fk,
            **tenant_columns,
            CONTENT_TYPE_FIELD: models.ForeignKey(
                # The state's own model in migrations, the class otherwise (no lazy lookup).
                "federated_relations.GenericContentType"
                if isinstance(klass._meta.apps, StateApps)
                else GenericContentType,
                related_name=f"{name}+",
                db_tablespace=tablespace,
                db_constraint=field.remote_field.db_constraint,
                on_delete=models.CASCADE,
            ),
            # Created after the foreign keys, so the columns come in Django's order.
            # Indexed: reverse access, reverse prefetch and target deletion look rows up
            # by (type, object id), which the unique (source, type, id) index cannot serve
            # (a tenant-aware table has the (tenant, type, id) index instead).
            OBJECT_ID_FIELD: (
                models.TextField(db_index=tenant is None)
                if field.pk_maxlength is None
                else models.CharField(max_length=field.pk_maxlength, db_index=tenant is None)
            ),
            TARGET_FIELD: FederatedForeignKey(
                ct_field=CONTENT_TYPE_FIELD,
                fk_field=OBJECT_ID_FIELD,
                for_concrete_model=field.for_concrete_model,
            ),
        },
    )
    # Lets the deletion handlers of the source FK report the field as sender (set after
    # class creation: ModelBase would contribute the field to the through model).
    through._federated_field = field  # type: ignore[attr-defined]  # an attribute of ours
    if tenant is not None:
        # Read by tenancy.tenant_field_of(); django-multitenant's delete and m2m hooks
        # read ``tenant_field`` (a column) to scope the table to the current tenant.
        setattr(through, THROUGH_TENANT_ATTRIBUTE, tenant)
        tenant_column = cast(models.Field, through._meta.get_field(tenant)).column
        through.tenant_field = tenant_column  # type: ignore[attr-defined]  # django-multitenant's
    # Joins compare the text object id with typed pks by casting the pk (keys.py), and
    # the tenants of rows and target when both have one (tenancy.py).
    cast(models.Field, through._meta.get_field(OBJECT_ID_FIELD)).register_lookup(
        object_id_exact_for(tenant)
    )
    return through


def _tenant_column(source_tenant: models.Field, name: str, field: Any) -> models.Field:
    """Return the through table's copy of the source's tenant column."""
    if source_tenant.many_to_one:
        return models.ForeignKey(
            # The class, or the label while it is not loaded yet.
            cast(Any, source_tenant.remote_field).model,
            related_name=f"{name}+",
            db_constraint=field.remote_field.db_constraint,
            on_delete=models.CASCADE,
        )
    # A plain column (an integer or text tenant id): the same type, without its options.
    copied = source_tenant.clone()  # type: ignore[attr-defined]  # Field.clone(), not stubbed
    copied.primary_key = copied.unique = copied.db_index = False
    copied.null = copied.blank = False
    return copied


@dataclass(frozen=True)
class ThroughLink:
    """The roles of the fields of a through model, found once per field.

    ``type_model`` is ``GenericContentType`` (targets may be remote) or, for a through model
    written for django-gm2m, ``ContentType`` (local targets only).
    """

    through: type[models.Model]
    source: str
    target: str
    content_type: str
    object_id: str

    @classmethod
    def for_through(
        cls,
        through: type[models.Model],
        source_model: type[models.Model],
        through_fields: Iterable[str] | None = None,
    ) -> ThroughLink:
        """Find the roles in ``through``: from ``through_fields`` or the unambiguous fields."""
        names = list(through_fields or ())
        opts = through._meta
        if names and len(names) >= 2 and names[0] and names[1]:
            source, target = names[0], names[1]
        else:
            source = next(
                f.name
                for f in opts.fields
                if f.is_relation
                and f.many_to_one
                and f.remote_field is not None
                and _is_model(f.remote_field.model, source_model)
            )
            target = next(
                f.name for f in opts.private_fields if isinstance(f, GenericForeignKey)
            )
        gfk = next(f for f in opts.private_fields if f.name == target)
        content_type = names[2] if len(names) > 2 and names[2] else gfk.ct_field
        object_id = names[3] if len(names) > 3 and names[3] else gfk.fk_field
        cast(models.Field, opts.get_field(object_id)).register_lookup(
            object_id_exact_for(declared_tenant_name(through))
        )
        return cls(through, source, target, content_type, object_id)

    # The roles were found among the through model's fields (for_through()), so get_field()
    # returns the field of each role, not a reverse relation.

    @property
    def source_field(self) -> models.ForeignKey:
        """Return the foreign key to the source model."""
        return cast(models.ForeignKey, self.through._meta.get_field(self.source))

    @property
    def content_type_field(self) -> models.ForeignKey:
        """Return the foreign key to the type model."""
        return cast(models.ForeignKey, self.through._meta.get_field(self.content_type))

    @property
    def object_id_field(self) -> models.Field:
        """Return the column holding the target's pk."""
        return cast(models.Field, self.through._meta.get_field(self.object_id))

    @property
    def type_model(self) -> type[models.Model]:
        """Return ``GenericContentType`` or, for a gm2m-style through model, ``ContentType``."""
        model = self.content_type_field.remote_field.model
        if isinstance(model, str):  # not resolved yet while models are being loaded
            app_label, _, name = model.rpartition(".")
            model = self.through._meta.apps.get_registered_model(app_label, name)
        # In migrations the foreign key points at a historical copy, without the methods
        # (get_for_model...) of the real class; both read the same table.
        label = model._meta.label_lower
        if label == GenericContentType._meta.label_lower:
            return GenericContentType
        if label == ContentType._meta.label_lower:
            return ContentType
        return model

    @property
    def is_generic(self) -> bool:
        """Whether targets are typed by ``GenericContentType`` (and so may be remote)."""
        try:
            return self.__dict__["_is_generic"]
        except KeyError:
            is_generic = self.type_model is not ContentType
            # Cached on the (frozen) instance: the type column's model never changes.
            self.__dict__["_is_generic"] = is_generic
            return is_generic

    def type_for_model(
        self, model: Any, for_concrete_model: bool = True, using: str | None = None
    ) -> Any:
        """Return the type of a local model in this through model's type table."""
        # GenericContentType's or ContentType's manager: both have get_for_model().
        return self.type_model.objects.db_manager(using).get_for_model(  # type: ignore[attr-defined]
            model, for_concrete_model=for_concrete_model
        )

    def key(
        self, obj: Any, for_concrete_model: bool = True, using: str | None = None
    ) -> tuple[int, str]:
        """Return ``(type id, pk string)`` of a target: an instance or a remote object.

        A ``MissingTarget`` (a row whose target is gone) gives its row's key.
        """
        if isinstance(obj, MissingTarget):
            if obj.content_type is None:
                return obj._row_key
            return self.local_type_id(obj.content_type.pk, using), obj._row_key[1]
        if self.is_generic:
            if isinstance(obj, models.Model):
                # resolver.content_type_of() + key_of(), without looking the model up again.
                ct = GenericContentType.objects.db_manager(using or obj._state.db).get_for_model(
                    obj, for_concrete_model=for_concrete_model
                )
                # An unsaved obj gives (type id, None), which matches no row (as key_of()).
                return ct.pk, pk_to_string(obj._meta.pk, obj.pk)  # type: ignore[return-value]
            ct = resolver.content_type_of(obj, for_concrete_model=for_concrete_model, using=using)
            return resolver.key_of(ct, obj.pk)
        if not isinstance(obj, models.Model):
            raise TypeError(
                f"{obj!r} is not a model instance; the through model "
                f"{self.through._meta.label} stores ContentType ids, so its targets are local."
            )
        ct = self.type_for_model(obj, for_concrete_model, using)
        return ct.pk, pk_to_string(obj._meta.pk, obj.pk)  # type: ignore[return-value]  # as above

    def generic_types(self, type_ids: Iterable[Any], using: str | None) -> dict[Any, Any]:
        """Return ``{type id: GenericContentType}`` for the type ids of this through model."""
        ids = set(type_ids)
        if self.is_generic:
            return GenericContentType.objects.db_manager(using).get_for_ids(*ids)
        manager = ContentType.objects.db_manager(using)
        generic = GenericContentType.objects.db_manager(using)
        result = {}
        for type_id in ids:
            model = manager.get_for_id(type_id).model_class()
            if model is not None:
                result[type_id] = generic.get_for_model(model, for_concrete_model=False)
        return result

    def local_type_id(self, generic_type_id: int, using: str | None) -> Any:
        """Return the id in this through model's type table of a ``GenericContentType`` id."""
        if self.is_generic:
            return generic_type_id
        ct = GenericContentType.objects.db_manager(using).get_for_id(generic_type_id)
        model = ct.model_class()
        if model is None:
            return None
        return ContentType.objects.db_manager(using).get_for_model(model, False).pk


def _is_model(candidate: Any, model: type[models.Model]) -> bool:
    if isinstance(candidate, str):
        return candidate.lower() in (model._meta.label_lower, model._meta.model_name)
    return candidate is model
