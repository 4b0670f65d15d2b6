"""The managers of ``FederatedManyToManyField``: ``source.items`` and ``target.<source>_set``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.apps import apps as global_apps
from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models import Q
from django.db.models.query import BaseIterable, ModelIterable

from .. import resolver, validation
from ..keys import pk_to_string
from ..models import GenericContentType
from ..tenancy import check_same_tenant, current_tenant_filter, tenant_field_of, tenant_of

__all__ = [
    "FederatedTargetQuerySet",
    "MissingTarget",
    "create_federated_m2m_manager",
    "create_federated_reverse_m2m_manager",
]


# --- FederatedManyToManyField ------------------------------------------------------------


class LoadedTargets(list):
    """Targets read from serialized data, which ``set()`` stores without asking peers.

    Django's deserializers (up to 6.0) save a many-to-many value with a bare ``set()``:
    the federated formats give it this list, so loading a fixture never validates its
    references against the peers (one may name a peer since removed).
    """


class MissingTarget:
    """What a many-to-many manager yields for a through row whose target no longer exists.

    Rows can outlive their target: ``DO_NOTHING`` and a ``CASCADE_SIGNAL_VETO`` veto keep
    them on purpose, and a peer's deletion event may not have arrived yet. Every row is
    one element of the manager (``count()``, ``len()``, slicing and iteration agree, and
    ``count()`` stays one query that asks no peer), so such a row gives a ``MissingTarget``
    in its place: its ``content_type`` and ``pk`` (``remove()`` accepts it and deletes the
    row), ``is_available`` false and a ``str()`` saying it does not exist. Reading any
    other attribute raises ``AttributeError``, so templates render nothing for it.
    """

    is_available = False

    def __init__(
        self,
        content_type: GenericContentType | None,
        pk: Any,
        type_id: Any,
        *,
        object_id: str | None = None,
    ) -> None:
        self.content_type = content_type
        self.pk = pk
        # The row's (type id, object id) in its own through table, for remove(): the
        # stored text (``object_id``), which need not be str(pk) (e.g. "007" for 7).
        self._row_key = (type_id, str(pk) if object_id is None else object_id)

    @property
    def project(self) -> str | None:
        """Return the project of the target's type (``None`` if the type is unknown)."""
        return self.content_type.project if self.content_type is not None else None

    def _identity(self) -> tuple[Any, ...]:
        ct = self.content_type
        return (ct.natural_key() if ct is not None else self._row_key[0], self._row_key[1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MissingTarget):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _describe(self) -> str:
        ct = self.content_type
        if ct is None:
            return f"type {self._row_key[0]} {self.pk}"
        return f"{ct.app_label}.{ct.model} {self.pk} on {ct.project}"

    def __str__(self) -> str:
        return f"{self._describe()} (does not exist)"

    def __repr__(self) -> str:
        return f"<MissingTarget: {self._describe()}>"

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: every field of a gone target is absent.
        # Private names (pickle and copy probe __setstate__ before __init__ ran) and the
        # attributes _describe() reads are plain misses, never a recursion.
        if name.startswith("_") or name in ("content_type", "pk"):
            raise AttributeError(name)
        raise AttributeError(f"{self._describe()} does not exist; it has no {name!r}.")


class FederatedTargetIterable(BaseIterable):
    """Yield the target of each through row of a queryset, loaded by ``resolver.resolve``.

    One query reads the rows' (type, object id), then the resolver loads one query per
    local type (one batch per peer type). A row whose target no longer exists yields a
    ``MissingTarget``, so that iteration, ``len()``, ``count()`` and slices all count rows.
    """

    def __iter__(self) -> Iterator[Any]:
        queryset = cast("FederatedTargetQuerySet", self.queryset)
        link = queryset.field.link
        if not queryset.ordered and not queryset.query.is_sliced:
            # Managers order their querysets (so they can be sliced); this is for others.
            queryset = queryset.order_by("pk")  # the order in which targets were added
        rows = list(queryset.values_list(link.content_type_field.attname, link.object_id))
        yield from load_targets(queryset.field, rows, queryset.db)


def load_targets(
    field: Any,
    rows: Iterable[tuple[Any, str]],
    using: str | None,
    querysets: dict[int, models.QuerySet] | None = None,
) -> list[Any]:
    """Return the target of each ``(type id, object id)`` row, a ``MissingTarget`` if gone.

    Every target is loaded by ``resolver.resolve``: one query per local type, one batch
    per remote type, whatever the number of rows. For a type with a queryset of its own
    in ``querysets`` (a ``Prefetch``), the rows whose target that queryset does not
    return give ``None``: the queryset chose its objects.
    """
    rows = list(rows)
    querysets = querysets or {}
    link = field.link
    types = link.generic_types({type_id for type_id, _ in rows}, using)
    wanted: dict[GenericContentType, set[str]] = defaultdict(set)
    for type_id, object_id in rows:
        if type_id in types:
            wanted[types[type_id]].add(object_id)
    models_of = {ct.pk: _model_of(field, ct) for ct in types.values()}
    historical: dict[GenericContentType, set[str]] = {}
    for content_type in list(wanted):
        model = models_of[content_type.pk]
        if model is not None and model._meta.concrete_model not in field.reverse_fields:
            # Rows written without the manager (custom through models) relate new models.
            field.add_relation(model, auto=True)
        if model is not None and model._meta.apps is not global_apps:
            # A migration's historical model, not the installed one model_class() gives.
            historical[content_type] = wanted.pop(content_type)
    found = resolver.resolve(wanted, using=using, querysets=querysets)
    for content_type, pks in historical.items():
        model = cast(type[models.Model], models_of[content_type.pk])  # historical: not None
        queryset = querysets.get(content_type.pk, model._base_manager.db_manager(using).all())
        for obj in queryset.filter(pk__in=pks):
            found[(content_type.pk, cast(str, pk_to_string(model._meta.pk, obj.pk)))] = obj
    # resolver.key_of() per row, with each type's pk field looked up once.
    pk_fields = {}
    for type_id, content_type in types.items():
        model = models_of[content_type.pk]
        pk_fields[type_id] = (content_type.pk, model._meta.pk if model is not None else None)
    targets = []
    for type_id, object_id in rows:
        obj = None
        if type_id in pk_fields:
            generic_id, pk_field = pk_fields[type_id]
            obj = found.get((generic_id, cast(str, pk_to_string(pk_field, object_id))))
        if obj is None and (type_id not in pk_fields or pk_fields[type_id][0] not in querysets):
            obj = _missing(types.get(type_id), pk_fields.get(type_id), type_id, object_id)
        targets.append(obj)
    return targets


def _model_of(field: Any, content_type: GenericContentType) -> type[models.Model] | None:
    """Return the local model of a type in the field's registry (historical in migrations)."""
    apps = field.model._meta.apps
    if apps is global_apps or not content_type.resolves_locally:
        return content_type.model_class()
    try:
        return apps.get_model(content_type.app_label, content_type.model)
    except LookupError:
        return None


def _missing(
    content_type: GenericContentType | None,
    pk_field: tuple[Any, models.Field | None] | None,
    type_id: Any,
    object_id: str,
) -> MissingTarget:
    """Return the ``MissingTarget`` of a row, its pk as the model's (or a remote) value."""
    pk: Any = object_id
    if content_type is not None and not content_type.resolves_locally:
        pk = resolver.reference(content_type, object_id).pk  # as a RemoteObject's
    elif pk_field is not None and pk_field[1] is not None:
        try:
            pk = pk_field[1].to_python(object_id)
        except (ValidationError, ValueError, TypeError):
            pass  # a row Django would not accept still has its id
    return MissingTarget(content_type, pk, type_id, object_id=object_id)


class FederatedTargetQuerySet(models.QuerySet):
    """A queryset of through rows that yields their targets, as gm2m's does.

    ``filter(Model=Movie)`` / ``filter(Model__in=[Movie, "app.Song"])`` keep the rows of
    these target models; other lookups apply to the through rows. ``count()`` and
    ``exists()`` count rows. ``field`` is set on the subclass made for each field.
    """

    field: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._iterable_class is ModelIterable:
            self._iterable_class = FederatedTargetIterable

    def _model_filter(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        targets = list(kwargs.pop("Model__in", ()))
        if "Model" in kwargs:
            targets.append(kwargs.pop("Model"))
        if targets or "Model__in" in kwargs:
            link = self.field.link
            type_ids = []
            for model in targets:
                if isinstance(model, str):
                    model = self.field.model._meta.apps.get_model(model)
                type_ids.append(
                    link.type_for_model(model, self.field.for_concrete_model, using=self.db).pk
                )
            kwargs[f"{link.content_type_field.attname}__in"] = type_ids
        return kwargs

    def filter(self, *args: Any, **kwargs: Any) -> FederatedTargetQuerySet:
        """Filter the rows; ``Model``/``Model__in`` select target models."""
        return super().filter(*args, **self._model_filter(kwargs))

    def exclude(self, *args: Any, **kwargs: Any) -> FederatedTargetQuerySet:
        """Exclude rows; ``Model``/``Model__in`` exclude target models."""
        return super().exclude(*args, **self._model_filter(kwargs))


def _rows_of_targets(link: Any, keys: Iterable[tuple[Any, str]], prefix: str = "") -> Q:
    """Return the condition on through rows whose target is among ``keys``: one per type.

    ``prefix`` reaches the through table from another model (``"videos__"``).
    """
    by_type: dict[Any, list[str]] = defaultdict(list)
    for type_id, object_id in keys:
        by_type[type_id].append(object_id)
    return Q(
        *(
            Q(
                **{
                    f"{prefix}{link.content_type_field.attname}": type_id,
                    f"{prefix}{link.object_id}__in": object_ids,
                }
            )
            for type_id, object_ids in by_type.items()
        ),
        _connector=Q.OR,
    )


def _tenants_of(targets: Iterable[Any]) -> set[Any] | None:
    """Return the tenants of ``targets``, or None unless every one is a tenant model's."""
    tenants = set()
    for target in targets:
        target_field = tenant_field_of(type(target)) if isinstance(target, models.Model) else None
        if target_field is None:
            return None
        tenants.add(tenant_of(target, target_field))
    return tenants


def _check_auto_created(through: Any, method: str) -> None:
    """Refuse ``method`` (add, remove...) with a custom through model, as gm2m does."""
    if not through._meta.auto_created:
        opts = through._meta
        raise AttributeError(
            f"Cannot use {method}() on a FederatedManyToManyField which specifies "
            f"an intermediary model. Use {opts.app_label}.{opts.object_name}'s "
            "Manager instead."
        )


class ThroughRowWriters:
    """``add``, ``remove``, ``clear`` and ``set`` (and their ``a`` twins) of both managers.

    Each writes the through rows of one fixed side (the source of ``user.videos``, the
    target of ``movie.user_set``): a direction says which rows those are
    (``_fixed_side``), how a row names the other side (``_other_side``, ``_matching``,
    ``_stored_keys``) and how the objects it is given become such keys (``_keys_to_add``,
    ``_keys_to_remove``). Keys are computed before anything is written, so a refused
    object changes nothing.
    """

    prefetch_cache_name: str

    def __init__(self, instance: Any, field: Any) -> None:
        super().__init__()
        self.instance = instance
        self.field = field
        self.link = field.link
        self.through = field.link.through
        #: The tenant fields of the source and of the rows, or None for both when the
        #: relation is not tenant-aware (see tenancy.py).
        self.source_tenant = field.source_tenant_field
        self.row_tenant = (
            tenant_field_of(self.through) if self.source_tenant is not None else None
        )
        if self.row_tenant is None:
            self.source_tenant = None

    def _fixed_side(self) -> dict[str, Any]:
        raise NotImplementedError

    def _other_side(self, key: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _matching(self, keys: Collection[Any]) -> Q:
        raise NotImplementedError

    def _stored_keys(self, using: str) -> AbstractSet[Any]:
        raise NotImplementedError

    def _keys_to_add(self, objs: Iterable[Any], using: str) -> list[Any]:
        raise NotImplementedError

    def _keys_to_remove(self, objs: Iterable[Any], using: str) -> list[Any]:
        raise NotImplementedError

    def _db_write(self) -> str:
        raise NotImplementedError

    def _check_through(self, method: str) -> None:
        _check_auto_created(self.through, method)

    def _lock(self, using: str) -> None:
        """Serialize the writers of the fixed side, where it is a lockable row."""

    def _rows(self, using: str, *conditions: Q) -> models.QuerySet:
        return self.through._base_manager.using(using).filter(*conditions, **self._fixed_side())

    def _insert_rows(self, keys: Iterable[Any], using: str) -> None:
        rows = [self.through(**self._fixed_side(), **self._other_side(key)) for key in keys]
        if rows:
            self.through._base_manager.using(using).bulk_create(rows, ignore_conflicts=True)

    def _delete_rows(self, keys: Collection[Any], using: str) -> None:
        if keys:  # an empty condition would match every row
            self._rows(using, self._matching(keys)).delete()

    def _remove_prefetched_objects(self) -> None:
        try:
            self.instance._prefetched_objects_cache.pop(self.prefetch_cache_name)
        except (AttributeError, KeyError):
            pass

    def add(self, *objs: Any) -> None:
        """Relate these objects; one already related stays related once."""
        self._check_through("add")
        using = self._db_write()
        keys = self._keys_to_add(objs, using)
        self._remove_prefetched_objects()
        with transaction.atomic(using=using, savepoint=False):
            self._lock(using)
            self._insert_rows(keys, using)

    add.alters_data = True  # type: ignore[attr-defined]

    def remove(self, *objs: Any) -> None:
        """Unrelate these objects."""
        self._check_through("remove")
        using = self._db_write()
        self._remove_prefetched_objects()
        self._delete_rows(self._keys_to_remove(objs, using), using)

    remove.alters_data = True  # type: ignore[attr-defined]

    def clear(self) -> None:
        """Unrelate every object."""
        self._check_through("clear")
        using = self._db_write()
        self._remove_prefetched_objects()
        self._rows(using).delete()

    clear.alters_data = True  # type: ignore[attr-defined]

    def set(self, objs: Iterable[Any], *, clear: bool = False) -> None:
        """Make ``objs`` the related objects: remove the others and add the missing ones."""
        self._check_through("set")
        objs = tuple(objs)
        using = self._db_write()
        self._replace(self._keys_to_add(objs, using), using, clear=clear)

    set.alters_data = True  # type: ignore[attr-defined]

    def _replace(
        self,
        keys: list[Any],
        using: str,
        *,
        clear: bool,
        kept: AbstractSet[Any] = frozenset(),
        among: Collection[Any] | None = None,
    ) -> None:
        """Write ``set()``: ``kept`` rows stay, only the rows ``among`` may be removed."""
        self._remove_prefetched_objects()
        with transaction.atomic(using=using, savepoint=False):
            self._lock(using)
            if clear and among is None and not kept:  # a set() from scratch
                self._rows(using).delete()
                self._insert_rows(keys, using)
                return
            current = self._stored_keys(using)
            wanted = set(keys) | kept
            removable = current if among is None else current & set(among)
            if clear:  # remove all that may go, then add
                unwanted = removable - kept
                current -= unwanted
            else:
                unwanted = removable - wanted
            self._delete_rows(unwanted, using)
            self._insert_rows([key for key in keys if key not in current], using)

    async def aadd(self, *objs: Any) -> None:
        """``add()`` for async code, run through ``sync_to_async`` as Django's managers do."""
        return await sync_to_async(self.add)(*objs)

    aadd.alters_data = True  # type: ignore[attr-defined]

    async def aremove(self, *objs: Any) -> None:
        """``remove()`` for async code."""
        return await sync_to_async(self.remove)(*objs)

    aremove.alters_data = True  # type: ignore[attr-defined]

    async def aclear(self) -> None:
        """``clear()`` for async code."""
        return await sync_to_async(self.clear)()

    aclear.alters_data = True  # type: ignore[attr-defined]

    async def aset(self, objs: Iterable[Any], *, clear: bool = False) -> None:
        """``set()`` for async code."""
        return await sync_to_async(self.set)(objs, clear=clear)

    aset.alters_data = True  # type: ignore[attr-defined]


def create_federated_m2m_manager(field: Any) -> type:
    """Return the manager class of ``instance.<FederatedManyToManyField>``.

    Its queryset is the instance's through rows, iterated as targets. ``add``, ``remove``,
    ``clear`` and ``set`` accept model instances and remote objects mixed; adding a target
    twice stores it once (the through table is unique on source, type, pk).
    """
    queryset_class = type("FederatedTargetQuerySet", (FederatedTargetQuerySet,), {"field": field})
    base: Any = models.manager.BaseManager.from_queryset(queryset_class)

    class FederatedManyToManyManager(ThroughRowWriters, base):  # type: ignore[misc]
        """The targets of one source instance."""

        def __init__(self, instance: models.Model) -> None:
            super().__init__(instance, field)
            self.model = self.through
            self.prefetch_cache_name = field.name

        @property
        def core_filters(self) -> dict[str, Any]:
            """Return the filter of the instance's rows, on its pk as it is now.

            Read each time: a manager made before the instance was saved (or after it was
            deleted) must not keep filtering on its old pk. No pk only refuses reads and
            writes: as in gm2m, ``instance.field.through`` stays reachable, e.g. to delete
            the rows that ``on_delete_src=DO_NOTHING`` kept.
            """
            return {self.link.source_field.attname: self.instance.pk, **self._tenant()}

        def _tenant(self) -> dict[str, Any]:
            """Return ``{rows' tenant column: the instance's tenant}``, or {}."""
            if self.row_tenant is None or self.source_tenant is None:
                return {}
            return {self.row_tenant.attname: tenant_of(self.instance, self.source_tenant)}

        def _check_pk(self) -> None:
            if self.instance.pk is None:
                raise ValueError(
                    f'"{self.instance!r}" needs to have a value for field '
                    f'"{self.instance._meta.pk.attname}" before this many-to-many '
                    "relationship can be used."
                )

        def __call__(self, *, manager: str) -> Any:
            """Return this manager (``user.videos(manager="...")`` has one queryset class)."""
            return type(self)(self.instance)

        def _db_read(self) -> str:
            return self._db or router.db_for_read(self.through, instance=self.instance)

        def _db_write(self) -> str:
            return router.db_for_write(self.through, instance=self.instance)

        def get_queryset(self) -> models.QuerySet:
            """Return the prefetched targets, or the instance's rows (iterated as targets)."""
            try:
                return self.instance._prefetched_objects_cache[self.prefetch_cache_name]
            except (AttributeError, KeyError):
                self._check_pk()
                queryset = super().get_queryset().using(self._db_read())
                if self.row_tenant is not None:
                    queryset = queryset.filter(**current_tenant_filter(self.row_tenant))
                if not queryset.ordered:
                    # The order in which targets were added; set now so slices work.
                    queryset = queryset.order_by("pk")
                queryset._add_hints(instance=self.instance)
                # Deferred like Django's related managers: prefetching replaces the
                # results, so the filter is only built if the queryset is evaluated.
                queryset._defer_next_filter = True
                return queryset._next_is_sticky().filter(**self.core_filters)

        def _apply_rel_filters(self, queryset: models.QuerySet) -> models.QuerySet:
            """Return this instance's rows (a ``Prefetch`` queryset is a target model's)."""
            return self.get_queryset()

        def get_prefetch_querysets(
            self, instances: list[models.Model], querysets: list[models.QuerySet] | None = None
        ) -> tuple[Any, ...]:
            """Load the targets of ``instances``: 1 query for the rows, 1 per target type."""
            using = self._db or router.db_for_read(self.through, instance=instances[0])
            link = self.link
            custom: dict[int, models.QuerySet] = {}
            generic = GenericContentType.objects.db_manager(using)
            for queryset in querysets or ():
                type_id = generic.get_for_model(
                    queryset.model, for_concrete_model=field.for_concrete_model
                ).pk
                if type_id in custom:
                    raise ValueError("Only one queryset is allowed for each target model.")
                custom[type_id] = queryset
            condition = {f"{link.source_field.attname}__in": {i.pk for i in instances}}
            if self.row_tenant is not None and self.source_tenant is not None:
                tenants = {tenant_of(i, self.source_tenant) for i in instances}
                condition[f"{self.row_tenant.attname}__in"] = tenants
                condition.update(current_tenant_filter(self.row_tenant))
            rows = list(
                self.through._base_manager.using(using)
                .filter(**condition)
                .order_by("pk")
                .values_list(
                    link.source_field.attname, link.content_type_field.attname, link.object_id
                )
            )
            loaded = load_targets(field, [row[1:] for row in rows], using, custom)
            # A target may belong to several sources: the objects are matched to their
            # source in order, as prefetch_one_level() reads them once each, in order.
            # Gone targets come as MissingTarget (as iteration gives them); None is a row
            # that a Prefetch queryset left out.
            pairs = [(row[0], obj) for row, obj in zip(rows, loaded) if obj is not None]
            sources = iter([source for source, _obj in pairs])
            return (
                [obj for _source, obj in pairs],
                lambda obj: next(sources),
                lambda instance: instance.pk,
                False,
                self.prefetch_cache_name,
                False,
            )

        def _check_through(self, method: str) -> None:
            self._check_pk()
            super()._check_through(method)

        def _fixed_side(self) -> dict[str, Any]:
            return self.core_filters

        def _other_side(self, key: tuple[Any, str]) -> dict[str, Any]:
            return {self.link.content_type_field.attname: key[0], self.link.object_id: key[1]}

        def _matching(self, keys: Collection[tuple[Any, str]]) -> Q:
            return _rows_of_targets(self.link, keys)

        def _stored_keys(self, using: str) -> AbstractSet[tuple[Any, str]]:
            link = self.link
            return set(
                self._rows(using).values_list(link.content_type_field.attname, link.object_id)
            )

        def _keys_to_add(
            self, objs: Iterable[Any], using: str, check: bool = True
        ) -> list[tuple[Any, str]]:
            keys: dict[tuple[Any, str], None] = {}
            for obj in objs:
                if isinstance(obj, MissingTarget):
                    raise ValueError(f"Cannot add {obj!r}: it no longer exists.")
                if isinstance(obj, models.Model):
                    if obj.pk is None:
                        raise ValueError(
                            f'Cannot add "{obj!r}": the value for field '
                            f'"{obj._meta.pk.attname}" is None'
                        )
                    if self.source_tenant is not None:
                        check_same_tenant(
                            self.instance, tenant_of(self.instance, self.source_tenant), obj
                        )
                    model = type(obj)
                    if field.for_concrete_model:
                        model = cast(type[models.Model], model._meta.concrete_model)
                    if model not in field.reverse_fields:
                        field.add_relation(model, auto=True)
                key = self.link.key(obj, field.for_concrete_model, using)
                max_length = self.link.object_id_field.max_length
                if max_length is not None and len(key[1]) > max_length:
                    raise ValueError(
                        f"The pk of {obj!r} ({key[1]!r}) is longer than the "
                        f"{max_length} characters of {self.through._meta.label}."
                        f"{self.link.object_id}: raise the field's pk_maxlength."
                    )
                keys[key] = None
            if check:  # refuse what could never resolve (unknown peer or model, ...)
                validation.check_targets(objs)
            return list(keys)

        def _keys_to_remove(self, objs: Iterable[Any], using: str) -> list[tuple[Any, str]]:
            return [self.link.key(obj, field.for_concrete_model, using) for obj in objs]

        def _lock(self, using: str) -> None:
            # Writers that insert lock the source row first: rows are unique per source,
            # so two set()/add() on one source queue up instead of deadlocking on the
            # unique index (a set() deletes and inserts). Not needed without row locks.
            if connections[using].features.has_select_for_update:
                tenant = {}
                if self.source_tenant is not None:  # routes the lock to the tenant's shard
                    tenant = {
                        self.source_tenant.attname: tenant_of(self.instance, self.source_tenant)
                    }
                list(
                    type(self.instance)
                    ._base_manager.using(using)
                    .select_for_update()
                    .filter(pk=self.instance.pk, **tenant)
                    .values_list("pk", flat=True)
                )

        def _check_new_targets(self, targets: list[Any], using: str) -> None:
            # Only references that set() adds are checked against the peers: one stored
            # before (its peer since removed, its type no longer exposed) may stay, and the
            # peer is asked before the source row is locked. Local targets need no query.
            remote = [obj for obj in targets if not isinstance(obj, models.Model)]
            if not remote:
                return
            stored = self._stored_keys(using)
            validation.check_targets(
                obj
                for obj in remote
                if self.link.key(obj, field.for_concrete_model, using) not in stored
            )

        def set(
            self,
            objs: Iterable[Any],
            *,
            clear: bool = False,
            among: Collection[tuple[Any, str]] | None = None,
            _check: bool = True,
        ) -> None:
            """Make ``objs`` the targets: remove the others and add the missing ones.

            With ``among`` (``(type id, pk string)`` keys, as forms offer them), only the
            current targets among those keys can be removed; every other one is kept.
            """
            self._check_through("set")
            # Loaded data (a fixture) is stored as it was dumped: its peers are not asked.
            check = _check and not isinstance(objs, LoadedTargets)
            objs = tuple(objs)
            using = self._db_write()
            # A MissingTarget (as all() gives it) keeps its row, if any, and adds none.
            kept = {
                self.link.key(obj, field.for_concrete_model, using)
                for obj in objs
                if isinstance(obj, MissingTarget)
            }
            targets = [obj for obj in objs if not isinstance(obj, MissingTarget)]
            keys = self._keys_to_add(targets, using, check=False)
            if check:
                self._check_new_targets(targets, using)
            self._replace(keys, using, clear=clear, kept=kept, among=among)

        set.alters_data = True  # type: ignore[attr-defined]

        def set_base(self, objs: Iterable[Any], *, clear: bool = False, raw: bool = False) -> None:
            """Do ``set()``: Django 6.1's deserializer sets many-to-many values with this.

            ``raw`` (loading data, as ``loaddata`` does) stores the targets without asking
            their peers: a fixture may name a peer since removed, or a type no longer
            exposed. This manager sends no ``m2m_changed`` signals.
            """
            self.set(objs, clear=clear, _check=not raw)

        set_base.alters_data = True  # type: ignore[attr-defined]

    return FederatedManyToManyManager


def create_federated_reverse_m2m_manager(field: Any, superclass: type | None = None) -> type:
    """Return the manager class of ``target.<accessor>`` (``movie.user_set``).

    The target may be a local model instance or a remote object; the manager is the source
    model's default manager (or ``superclass``) restricted to the sources whose through
    rows point at it.
    """
    source_model = field.model
    if superclass is None:
        superclass = source_model._default_manager.__class__

    class FederatedReverseManyToManyManager(
        ThroughRowWriters,
        superclass,  # type: ignore[misc, valid-type]
    ):
        """The sources relating to one target."""

        def __init__(self, instance: Any) -> None:
            super().__init__(instance, field)
            self.model = source_model
            self.prefetch_cache_name = field.get_accessor_name() or field.name
            using = instance._state.db if isinstance(instance, models.Model) else None
            if isinstance(instance, models.Model) and instance.pk is None:
                raise ValueError(
                    f'"{instance!r}" needs to have a value for field '
                    f'"{instance._meta.pk.attname}" before this relationship can be used.'
                )
            self.type_id, self.object_id = self.link.key(instance, field.for_concrete_model, using)
            self.core_filters = {
                f"{field.name}__{self.link.content_type_field.attname}": self.type_id,
                f"{field.name}__{self.link.object_id}": self.object_id,
            }
            #: The target's tenant, when both it and the rows have one: its rows are all
            #: under it, and filtering on it keeps queries on one shard.
            self.target_tenant: dict[str, Any] = {}
            target_field = (
                tenant_field_of(type(instance)) if isinstance(instance, models.Model) else None
            )
            if self.row_tenant is not None and target_field is not None:
                self.target_tenant = {self.row_tenant.attname: tenant_of(instance, target_field)}
                self.core_filters[f"{field.name}__{self.row_tenant.attname}"] = tenant_of(
                    instance, target_field
                )

        def __call__(self, *, manager: str) -> Any:
            """Return the manager built on the source model's manager named ``manager``."""
            manager_class = create_federated_reverse_m2m_manager(
                field, getattr(source_model, manager).__class__
            )
            return manager_class(self.instance)

        def get_queryset(self) -> models.QuerySet:
            """Return the prefetched sources, or the sources of this target's rows."""
            cache = getattr(self.instance, "_prefetched_objects_cache", {})
            if self.prefetch_cache_name in cache:
                return cache[self.prefetch_cache_name]
            queryset = super().get_queryset()
            if isinstance(self.instance, models.Model):
                queryset._add_hints(instance=self.instance)
                # db_manager()'s database first: create() saves through this queryset.
                queryset = queryset.using(
                    self._db or router.db_for_read(source_model, instance=self.instance)
                )
            if self.source_tenant is not None:
                queryset = queryset.filter(**current_tenant_filter(self.source_tenant))
            queryset._defer_next_filter = True
            return queryset._next_is_sticky().filter(**self.core_filters)

        def _apply_rel_filters(self, queryset: models.QuerySet) -> models.QuerySet:
            """Restrict a ``Prefetch`` queryset to this target's sources."""
            # _next_is_sticky() is private API (not in the stubs), as Django's managers use it.
            return queryset._next_is_sticky().filter(**self.core_filters)  # type: ignore[attr-defined]

        def get_prefetch_querysets(
            self, instances: list[Any], querysets: list[models.QuerySet] | None = None
        ) -> tuple[Any, ...]:
            """Load the sources of ``instances`` (targets of one model) in one query."""
            if querysets and len(querysets) != 1:
                raise ValueError(
                    "querysets argument of get_prefetch_querysets() should have a length of 1."
                )
            # Any: _db and _next_is_sticky() are private QuerySet API, missing from the stubs.
            queryset: Any = querysets[0] if querysets else super().get_queryset()
            using = queryset._db or router.db_for_read(source_model, instance=instances[0])
            link = self.link
            keys = {link.key(obj, field.for_concrete_model, using) for obj in instances}
            condition = _rows_of_targets(link, keys, prefix=f"{field.name}__")
            if self.row_tenant is not None:
                tenants = _tenants_of(instances)
                if tenants is not None:
                    condition &= Q(**{f"{field.name}__{self.row_tenant.attname}__in": tenants})
            queryset = queryset.using(using)._next_is_sticky().filter(condition)
            # The joined through table is aliased by its name (as Django's M2M prefetch uses).
            qn = connections[using].ops.quote_name
            table = qn(self.through._meta.db_table)
            queryset = queryset.extra(
                select={
                    "_fr_type_id": f"{table}.{qn(link.content_type_field.column)}",
                    "_fr_object_id": f"{table}.{qn(link.object_id_field.column)}",
                }
            )
            return (
                queryset,
                lambda source: (source._fr_type_id, source._fr_object_id),
                lambda target: link.key(target, field.for_concrete_model, using),
                False,
                self.prefetch_cache_name,
                False,
            )

        def _rows(self, using: str, *conditions: Q) -> models.QuerySet:
            return super()._rows(using, *conditions).filter(**self.target_tenant)

        def _source_keys(self, objs: Iterable[models.Model], check: bool) -> list[Any]:
            """Return the sources' pks, or (pk, tenant) pairs when rows carry the tenant."""
            objs = list(objs)
            pks = self._source_pks(objs)  # refuses other models first
            if self.source_tenant is None:
                return pks
            keys = []
            for obj in objs:
                tenant = tenant_of(obj, self.source_tenant)
                if check:
                    check_same_tenant(obj, tenant, self.instance)
                keys.append((obj.pk, tenant))
            return keys

        def _source_pks(self, objs: Iterable[models.Model]) -> list[Any]:
            pks = []
            for obj in objs:
                if not isinstance(obj, source_model):
                    raise TypeError(
                        f"'{source_model._meta.object_name}' instance expected, got {obj!r}"
                    )
                pks.append(obj.pk)
            return pks

        def _fixed_side(self) -> dict[str, Any]:
            link = self.link
            return {link.content_type_field.attname: self.type_id, link.object_id: self.object_id}

        def _other_side(self, key: Any) -> dict[str, Any]:
            source = self.link.source_field.attname
            if self.row_tenant is None:
                return {source: key}
            return {source: key[0], self.row_tenant.attname: key[1]}

        def _matching(self, keys: Collection[Any]) -> Q:
            source = self.link.source_field.attname
            if self.row_tenant is None:
                return Q(**{f"{source}__in": keys})
            by_tenant: dict[Any, list[Any]] = defaultdict(list)
            for pk, tenant in keys:
                by_tenant[tenant].append(pk)
            tenant_column = self.row_tenant.attname
            return Q(
                *(
                    Q(**{tenant_column: tenant, f"{source}__in": pks})
                    for tenant, pks in by_tenant.items()
                ),
                _connector=Q.OR,
            )

        def _stored_keys(self, using: str) -> AbstractSet[Any]:
            source = self.link.source_field.attname
            if self.row_tenant is None:
                return set(self._rows(using).values_list(source, flat=True))
            return set(self._rows(using).values_list(source, self.row_tenant.attname))

        def _keys_to_add(self, objs: Iterable[models.Model], using: str) -> list[Any]:
            # One lock order for concurrent adds: by source pk.
            return sorted(set(self._source_keys(objs, check=True)))

        def _keys_to_remove(self, objs: Iterable[models.Model], using: str) -> list[Any]:
            return self._source_keys(objs, check=False)

        def _db_write(self) -> str:
            return router.db_for_write(self.through)

        def _db_for_sources(self) -> str:
            hints = {"instance": self.instance} if isinstance(self.instance, models.Model) else {}
            return router.db_for_write(source_model, **hints)

        def _write_source(self, method: str, kwargs: dict[str, Any]) -> Any:
            """Run the source manager's ``method`` (``create``...) on the sources' database."""
            self._check_through(method)
            related = self.db_manager(self._db_for_sources())
            return getattr(super(FederatedReverseManyToManyManager, related), method)(**kwargs)

        def create(self, **kwargs: Any) -> models.Model:
            """Create a source and relate it to the target, as Django's related managers do."""
            obj = self._write_source("create", kwargs)
            self.add(obj)
            return obj

        create.alters_data = True  # type: ignore[attr-defined]

        def get_or_create(self, **kwargs: Any) -> tuple[models.Model, bool]:
            """Get a related source, or create one and relate it."""
            obj, created = self._write_source("get_or_create", kwargs)
            if created:  # a source that was found is related already
                self.add(obj)
            return obj, created

        get_or_create.alters_data = True  # type: ignore[attr-defined]

        def update_or_create(self, **kwargs: Any) -> tuple[models.Model, bool]:
            """Update a related source, or create one and relate it."""
            obj, created = self._write_source("update_or_create", kwargs)
            if created:
                self.add(obj)
            return obj, created

        update_or_create.alters_data = True  # type: ignore[attr-defined]

        async def acreate(self, **kwargs: Any) -> models.Model:
            """``create()`` for async code."""
            return await sync_to_async(self.create)(**kwargs)

        acreate.alters_data = True  # type: ignore[attr-defined]

        async def aget_or_create(self, **kwargs: Any) -> tuple[models.Model, bool]:
            """``get_or_create()`` for async code."""
            return await sync_to_async(self.get_or_create)(**kwargs)

        aget_or_create.alters_data = True  # type: ignore[attr-defined]

        async def aupdate_or_create(self, **kwargs: Any) -> tuple[models.Model, bool]:
            """``update_or_create()`` for async code."""
            return await sync_to_async(self.update_or_create)(**kwargs)

        aupdate_or_create.alters_data = True  # type: ignore[attr-defined]

    return FederatedReverseManyToManyManager
