"""``FederatedManyToManyField``: django-gm2m's ``GM2MField`` whose targets may be remote.

The field declares: it checks itself (``checks``), creates or resolves its through model
(``through``), contributes its accessor (``descriptors``) and one private
``FederatedManyToManyReverse`` field to each target model, and describes its joins.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

import django
from django.apps import apps as global_apps
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.deletion import CASCADE
from django.db.models.fields.related import (  # type: ignore[attr-defined]  # not in the stubs
    RelatedField,
    lazy_related_operation,
)
from django.db.models.query_utils import PathInfo
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .. import objects
from ..deletion import target_rows_to_delete
from ..forms import FederatedMultipleChoiceField
from ..generic import FederatedRelation
from ..keys import pk_to_string
from ..lookups import targets_path_info
from ..reverse_related import FederatedManyToManyRel
from ..tenancy import declared_tenant_name, tenant_field_of
from .checks import (
    check_reverse_relations,
    check_target_pk_lengths,
    check_tenant_columns,
    check_through_model,
)
from .descriptors import FederatedManyToManyDescriptor, ReverseFederatedManyToManyDescriptor
from .through import ThroughLink, create_federated_through_model

__all__ = ["RELATIONS_LOCK", "FederatedManyToManyField", "FederatedManyToManyReverse"]

#: Held while reverse relations are added to models (at load time, by add() in a
#: request, by the restore of added_relations): re-entrant, as adding one may add others.
RELATIONS_LOCK = threading.RLock()


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
    remote_field: FederatedManyToManyRel
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
        tenant_field: str | None = None,
        **kwargs: Any,
    ) -> None:
        for model in related_models:
            if not isinstance(model, str) and not (
                isinstance(model, type)
                and issubclass(model, models.Model)
                and not model._meta.abstract
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
        #: The source's tenant field as declared (``None``: the ``TenantMeta``'s, if any).
        self.tenant_field = tenant_field

    @property
    def source_tenant_field(self) -> models.Field | None:
        """Return the source's tenant field: ``tenant_field``, or its ``TenantMeta``'s."""
        return tenant_field_of(self.model, self.tenant_field)

    def _tenant_declared_later(self, cls: type[models.Model]) -> bool:
        """Whether the source's tenant field is declared after this field (not there yet)."""
        name = self.tenant_field or declared_tenant_name(cls)
        if name is None:
            return False
        return not any(
            name in (f.name, f.attname, f.column) for f in cls._meta.concrete_fields
        )

    # -- declaration ----------------------------------------------------------------------

    # As ManyToManyField's (in django-stubs too): private_only comes through **kwargs.
    def contribute_to_class(  # type: ignore[override]
        self, cls: type[models.Model], name: str, **kwargs: Any
    ) -> None:
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
        if through is None and self._tenant_declared_later(cls):
            # The through table copies the tenant column: create it once the class has
            # all its fields (when the model is registered).

            def create_through(model: Any) -> None:
                self.remote_field.through = create_federated_through_model(self, model)
                self._through_ready()

            lazy_related_operation(create_through, cls)
        elif through is None:
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
        accessor = self.get_accessor_name()
        if accessor is not None and self.model._meta.apps is global_apps and self.link.is_generic:
            # Targets typed by GenericContentType may be remote: give remote objects the
            # reverse accessor (related_name or <source model>_set), whatever is declared.
            objects.add_reverse_accessor(
                accessor, ReverseFederatedManyToManyDescriptor(self).__get__
            )

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
            # Set on every model class (None only on Options not yet given to a model).
            target = cast(type[models.Model], target._meta.concrete_model)
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
            or cast(str, self.model._meta.model_name)  # set on every model class
        )

    def get_accessor_name(self) -> str | None:
        """Return the reverse accessor of target objects, ``None`` when hidden ('+')."""
        if self.target_related_name:
            if self.target_related_name.endswith("+"):
                return None
            return self.target_related_name
        return f"{self.model._meta.model_name}_set"

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
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
        tenant = self._deconstructed_tenant()
        if tenant is not None:
            kwargs["tenant_field"] = tenant
        if _M2M_DECONSTRUCTION_HAS_TO:
            # Django 6.1 recreates a many-to-many field whose "to" changed, as its table
            # references that model. This field relates to the type model whatever its
            # declared targets are (its table keeps them as rows), so "to" is that model and
            # a change of targets stays an AlterField. Older Django never reads "to": their
            # migrations stay as they were.
            kwargs["to"] = _TYPE_MODEL_LABEL
        return name, path, args, kwargs

    def _deconstructed_tenant(self) -> str | None:
        """Return the tenant field's name, also when detected: historical models have no
        ``TenantMeta``, so migrations must name it."""
        if not hasattr(self, "model"):
            return self.tenant_field
        try:
            tenant = self.source_tenant_field
        except FieldDoesNotExist:
            return self.tenant_field  # reported by the check (E111)
        return tenant.name if tenant is not None else None

    def _label(self, model: Any) -> str:
        if isinstance(model, str):
            if "." not in model:
                model = f"{self.model._meta.app_label}.{model}"
            return model.lower()
        return model._meta.label_lower

    # -- database -------------------------------------------------------------------------

    # The stubs say the column is a str; Django 6 gives many-to-many fields None.
    def get_attname_column(self) -> tuple[str, str | None]:  # type: ignore[override]
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
        through = cast(type[models.Model], self.remote_field.through)  # installed by now
        return through._meta.db_table

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
        # ForeignObject.get_path_info() and get_reverse_path_info() are not in the stubs.
        return [
            *link.content_type_field.get_reverse_path_info(  # type: ignore[attr-defined]
                filtered_relation
            ),
            *link.source_field.get_path_info(filtered_relation),  # type: ignore[attr-defined]
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

    def formfield(
        self, form_class: Any = None, choices_form_class: Any = None, **kwargs: Any
    ) -> FederatedMultipleChoiceField:
        """Return a multiple choice field over the objects of the related local models.

        ``form_class`` is used if it is a ``FederatedMultipleChoiceField``; ``choices_form_class``
        is ignored.
        """
        defaults: dict[str, Any] = {
            "target_models": self.get_related_models(),
            "for_concrete_model": self.for_concrete_model,
            "required": not self.blank,
            "label": capfirst(self.verbose_name),
            "help_text": self.help_text,
        }
        defaults.update(kwargs)
        if not isinstance(form_class, type) or not issubclass(
            form_class, FederatedMultipleChoiceField
        ):
            form_class = FederatedMultipleChoiceField
        for key in ("widget_kwargs", "queryset", "limit_choices_to"):
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
            *check_tenant_columns(self),
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

        return check_through_model(self)

    def _check_relations(self) -> list[checks.CheckMessage]:

        return check_reverse_relations(self)

    def _check_target_pk_lengths(self) -> list[checks.CheckMessage]:

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

    def contribute_to_class(  # type: ignore[override]  # as FederatedRelation's
        self, cls: type[models.Model], name: str, **kwargs: Any
    ) -> None:
        """Add the private field and the accessor (not ``GenericRelation``'s descriptor)."""
        kwargs["private_only"] = True
        RelatedField.contribute_to_class(self, cls, name, **kwargs)
        self.model = cls
        accessor = self.m2m_field.get_accessor_name()
        if accessor and not self.m2m_field.model._meta.swapped:
            setattr(cls, accessor, ReverseFederatedManyToManyDescriptor(self.m2m_field))

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
            *self.m2m_field.link.source_field.get_path_info(  # type: ignore[attr-defined]
                filtered_relation
            ),
        ]

    def bulk_related_objects(
        self, objs: list[models.Model], using: str = DEFAULT_DB_ALIAS
    ) -> models.QuerySet:
        """Return the through rows the Collector deletes with ``objs`` (per the handler)."""
        link = self.m2m_field.link
        type_id = link.type_for_model(self.model, self.for_concrete_model, using=using).pk
        rows = link.through._base_manager.db_manager(using).filter(
            **{
                link.content_type_field.attname: type_id,
                f"{link.object_id}__in": [pk_to_string(obj._meta.pk, obj.pk) for obj in objs],
            }
        )
        return target_rows_to_delete(self.m2m_field, self.handler, objs, rows)

