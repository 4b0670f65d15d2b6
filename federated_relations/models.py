"""``GenericContentType``: a ``ContentType`` that also names the project owning the type.

A type is *local* when its project is this server's ``PROJECT_NAME``; a type of the
reserved project ``"shared"`` (tables synchronized on every server) is resolved locally
too; any other project is a peer, whose objects come through the resolver.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import objects
from .conf import SHARED_PROJECT, federated_settings, on_reload

if TYPE_CHECKING:
    from django.db.models.options import Options

__all__ = [
    "GenericContentType",
    "GenericContentTypeManager",
    "OutboxEvent",
    "ReceivedEvent",
]

CacheKey = tuple[str, str, str]

# What the type lookups of every prefetched reference need of the settings, read once
# and forgotten with the type cache when the settings change (clear_cache()):
# {project: whether its types resolve locally (this server's or "shared")}, and
# {"PROJECT_NAME": this server's project}.
_RESOLVES_LOCALLY: dict[str, bool] = {}
_SETTINGS: dict[str, str] = {}


def _project_name() -> str:
    try:
        return _SETTINGS["PROJECT_NAME"]
    except KeyError:
        name = _SETTINGS["PROJECT_NAME"] = federated_settings.PROJECT_NAME
        return name


class GenericContentTypeManager(models.Manager["GenericContentType"]):
    """Manager with the per-database cache and lookups of ``ContentTypeManager``."""

    use_in_migrations = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # {db alias: {(project, app_label, model) or id: GenericContentType}}
        self._cache: dict[str, dict[Any, GenericContentType]] = {}
        # Types created inside a transaction, cached only once it commits:
        # {db alias: {key or id: (type, on-commit callback, connection)}}
        self._pending: dict[str, dict[Any, tuple[GenericContentType, Any, Any]]] = {}
        # {db alias: this manager bound to it}, shared with the bound copies (db_manager()).
        self._db_managers: dict[str | None, GenericContentTypeManager] = {}

    def _get_cached(self, key: Any) -> GenericContentType | None:
        try:
            return self._cache[self.db][key]
        except KeyError:
            pass
        entry = self._pending.get(self.db, {}).get(key)
        if entry is None:
            return None
        ct, on_commit, connection = entry
        if connection is not connections[connection.alias]:
            # Created in another thread's transaction: not committed as far as this one
            # knows (connections are per thread), so this thread reads the database.
            return None
        # The callback leaves run_on_commit when its transaction or savepoint rolls back.
        if any(hook[1] is on_commit for hook in connection.run_on_commit):
            return ct
        self._forget_pending(self.db, ct)
        return None

    def _forget_pending(self, using: str, ct: GenericContentType) -> None:
        pending = self._pending.get(using, {})
        pending.pop(ct.natural_key(), None)
        pending.pop(ct.id, None)

    def get_by_natural_key(
        self, project: str, app_label: str, model: str, *extra: Any
    ) -> GenericContentType:
        """Return the type with this natural key (cached), creating it if it can exist.

        Fixtures name types by natural key, and a fresh database has no row for a peer's
        type yet: a peer's type is created as by ``get_for_remote()``, a type of this
        project (or ``"shared"``) when its model is installed. A local type whose model
        is not installed, and has no row, raises ``DoesNotExist`` naming it.
        """
        if extra:
            # Django's own serializers pass a FederatedManyToManyField reference here.
            raise TypeError(
                f"get_by_natural_key() takes (project, app_label, model), got "
                f"{[project, app_label, model, *extra]!r}: a FederatedManyToManyField "
                "target, which Django's own serializer formats cannot read. Set "
                "SERIALIZATION_MODULES to the formats of federated_relations.serializers."
            )
        key = (project, app_label, model.lower())
        ct = self._get_cached(key)
        if ct is not None:
            return ct
        if project not in (federated_settings.PROJECT_NAME, SHARED_PROJECT):
            return self._get_or_create(key)
        try:
            apps.get_model(app_label, model)
        except LookupError:
            try:
                ct = self.get(project=project, app_label=app_label, model=key[2])
            except self.model.DoesNotExist:
                owner = "the shared project" if project == SHARED_PROJECT else "this project"
                raise self.model.DoesNotExist(
                    f"No GenericContentType {'.'.join(key)}: {project!r} is {owner}, and "
                    f"no model {app_label}.{model} is installed."
                ) from None
            self._add_to_cache(self.db, ct)
            return ct
        return self._get_or_create(key)

    @staticmethod
    def _get_opts(model: Any, for_concrete_model: bool) -> Options:
        if for_concrete_model:
            model = model._meta.concrete_model
        return model._meta

    def _get_or_create(self, key: CacheKey) -> GenericContentType:
        ct = self._get_cached(key)
        if ct is not None:
            return ct
        project, app_label, model = key
        created = False
        try:
            # get() first, and not get_or_create(), to use db_for_read (Django #20401).
            ct = self.get(project=project, app_label=app_label, model=model)
        except self.model.DoesNotExist:
            ct, created = self.get_or_create(project=project, app_label=app_label, model=model)
        self._add_to_cache(self.db, ct, created=created)
        return ct

    def get_for_model(self, model: Any, for_concrete_model: bool = True) -> GenericContentType:
        """Return this project's type for a model class or instance, creating it if needed."""
        opts = self._get_opts(model, for_concrete_model)
        # model_name is None only on Options not given to a model yet; not typing.cast():
        # this runs for every reference of a prefetch.
        key: CacheKey = (_project_name(), opts.app_label, opts.model_name)  # type: ignore[assignment]
        try:
            # Read for every reference a prefetch matches: the committed cache first.
            return self._cache[self.db][key]
        except KeyError:
            return self._get_or_create(key)

    def get_for_object(self, obj: Any, for_concrete_model: bool = True) -> GenericContentType:
        """Return the type of a model instance (this project's) or of a remote object.

        A model instance's type is read from its own database unless this manager was
        given one (``db_manager(using)``).
        """
        if isinstance(obj, models.Model):
            return self.db_manager(self._db or obj._state.db).get_for_model(
                obj, for_concrete_model=for_concrete_model
            )
        content_type = getattr(obj, "content_type", None)
        if isinstance(content_type, GenericContentType):
            return content_type
        raise TypeError(f"{obj!r} is neither a model instance nor a remote object.")

    def get_for_models(
        self, *models: Any, for_concrete_models: bool = True
    ) -> dict[Any, GenericContentType]:
        """Return ``{model: type}`` for these models in at most one query (plus creations)."""
        project = federated_settings.PROJECT_NAME
        results = {}
        needed: dict[CacheKey, list[Any]] = defaultdict(list)
        for model in models:
            opts = self._get_opts(model, for_concrete_models)
            # model_name: as in get_for_model().
            key: CacheKey = (project, opts.app_label, opts.model_name)  # type: ignore[assignment]
            cached = self._get_cached(key)
            if cached is not None:
                results[model] = cached
            else:
                needed[key].append(model)
        if needed:
            by_app: dict[str, set[str]] = defaultdict(set)
            for _project, app_label, model_name in needed:
                by_app[app_label].add(model_name)
            condition = Q(
                *(Q(app_label=label, model__in=names) for label, names in by_app.items()),
                _connector=Q.OR,
            )
            for ct in self.filter(condition, project=project):
                self._add_to_cache(self.db, ct)
                for model in needed.pop(ct.natural_key(), []):
                    results[model] = ct
            for key, key_models in needed.items():
                ct = self._get_or_create(key)
                for model in key_models:
                    results[model] = ct
        return results

    def get_for_id(self, id: Any) -> GenericContentType:
        """Return the type with this id (cached); never creates one."""
        ct = self._get_cached(id)
        if ct is None:
            ct = self.get(pk=id)
            self._add_to_cache(self.db, ct)
        return ct

    def get_for_ids(self, *ids: Any) -> dict[Any, GenericContentType]:
        """Return ``{id: type}`` for these ids, loading the uncached ones in one query."""
        found = {}
        for id in ids:
            ct = self._get_cached(id)
            if ct is not None:
                found[id] = ct
        missing = {id for id in ids if id not in found}
        if missing:
            for ct in self.filter(pk__in=missing):
                self._add_to_cache(self.db, ct)
                found[ct.id] = ct
        return {id: found[id] for id in ids if id in found}

    def get_for_remote(self, project: str, app_label: str, model: str) -> GenericContentType:
        """Return the type of ``app_label.model`` on server ``project``, creating it if needed."""
        return self._get_or_create((project, app_label, model.lower()))

    def clear_cache(self) -> None:
        """Empty the cache of every database."""
        self._cache.clear()
        self._pending.clear()
        _RESOLVES_LOCALLY.clear()
        _SETTINGS.clear()

    def db_manager(self, using: str | None = None, hints: dict[str, Any] | None = None) -> Any:
        """Return this manager bound to database ``using`` (the same one on every call).

        Django copies the manager on each call; the type lookups of every prefetched
        reference go through here, so the copies are kept (they share the caches).
        """
        if hints:
            return super().db_manager(using, hints)
        alias = using or self._db
        try:
            return self._db_managers[alias]
        except KeyError:
            manager = self._db_managers[alias] = super().db_manager(using)
            return manager

    def _add_to_cache(self, using: str, ct: GenericContentType, created: bool = False) -> None:
        if created:
            connection = connections[ct._state.db or using]
            if connection.in_atomic_block:
                self._add_after_commit(using, ct, connection)
                return
        elif self._get_cached_pending(using, ct) is not None:
            return  # read back inside the transaction that created it: still uncommitted
        cache = self._cache.setdefault(using, {})
        cache[ct.natural_key()] = ct
        cache[ct.id] = ct

    def _get_cached_pending(self, using: str, ct: GenericContentType) -> GenericContentType | None:
        if ct.natural_key() not in self._pending.get(using, {}):
            return None
        return self.db_manager(using)._get_cached(ct.natural_key())

    def _add_after_commit(self, using: str, ct: GenericContentType, connection: Any) -> None:
        # A row created in a transaction that rolls back (a failed request, a test) must
        # not stay in the cache: until the commit, only that transaction sees it.
        def on_commit() -> None:
            if connection.in_atomic_block:
                return  # run early by captureOnCommitCallbacks(execute=True): not committed
            self._forget_pending(using, ct)
            self._add_to_cache(using, ct)

        pending = self._pending.setdefault(using, {})
        pending[ct.natural_key()] = pending[ct.id] = (ct, on_commit, connection)
        transaction.on_commit(on_commit, using=connection.alias)


class GenericContentType(models.Model):
    """A model type (``app_label.model``) owned by a project (a server of the federation)."""

    project = models.CharField(_("project"), max_length=100)
    app_label = models.CharField(max_length=100)
    model = models.CharField(_("python model class name"), max_length=100)

    objects = GenericContentTypeManager()

    class Meta:
        verbose_name = _("generic content type")
        verbose_name_plural = _("generic content types")
        constraints = [
            models.UniqueConstraint(
                fields=["project", "app_label", "model"],
                name="federated_relations_gct_natural_key",
            )
        ]

    def __str__(self) -> str:
        if self.is_local:
            return self.app_labeled_name
        return f"{self.project} | {self.app_label} | {self.model}"

    @property
    def is_local(self) -> bool:
        """Whether this type belongs to this server's project."""
        return self.project == federated_settings.PROJECT_NAME

    @property
    def is_shared(self) -> bool:
        """Whether this type is a synchronized table present on every server."""
        return self.project == SHARED_PROJECT

    @property
    def resolves_locally(self) -> bool:
        """Whether objects of this type are read from this server's database."""
        # Asked for every reference a prefetch matches: remembered per project, and
        # forgotten with the type cache when the settings change (clear_cache()).
        try:
            return _RESOLVES_LOCALLY[self.project]
        except KeyError:
            locally = _RESOLVES_LOCALLY[self.project] = self.is_local or self.is_shared
            return locally

    @property
    def name(self) -> str:
        """Return the model's verbose name, or its model name if it is not installed here."""
        model = self.model_class()
        if not model:
            return self.model
        return str(model._meta.verbose_name)

    @property
    def app_labeled_name(self) -> str:
        """Return "app verbose name | model verbose name", like ``ContentType``."""
        model = self.model_class()
        if not model:
            return self.model
        return f"{model._meta.app_config.verbose_name} | {model._meta.verbose_name}"

    def model_class(self) -> type[models.Model] | None:
        """Return the local model class of this type, ``None`` when it is remote or gone."""
        if not self.resolves_locally:
            return None
        if apps.models_ready:
            # apps.get_model() past its readiness checks: this runs for every reference a
            # prefetch matches. The registry stays the one source; nothing is kept here.
            config = apps.app_configs.get(self.app_label)
            return None if config is None else config.models.get(self.model.lower())
        try:
            return apps.get_model(self.app_label, self.model)
        except LookupError:
            return None

    def get_object_for_this_type(self, using: str | None = None, **kwargs: Any) -> Any:
        """Return the object matching ``kwargs``: from the ORM if local, else from the peer.

        A remote object is fetched now (by pk only); it raises ``RemoteObjectDoesNotExist``
        when the peer says it does not exist (a placeholder comes back if the peer cannot
        say, unless ``ON_REMOTE_ERROR`` is ``"raise"``).
        """
        if self.resolves_locally:
            model = self.model_class()
            if model is None:
                raise LookupError(f"The model of {self.natural_key()} is not installed.")
            return model._base_manager.using(using).get(**kwargs)
        if set(kwargs) != {"pk"}:
            raise ValueError(f"Objects of remote type {self} can only be looked up by pk.")
        return objects.get(self, kwargs["pk"])

    def get_all_objects_for_this_type(self, **kwargs: Any) -> models.QuerySet:
        """Return a queryset of the local objects of this type matching ``kwargs``."""
        model = self.model_class()
        if model is None:
            raise ValueError(f"{self} is not a local type; it has no queryset.")
        return model._base_manager.filter(**kwargs)

    def natural_key(self) -> CacheKey:
        """Return ``(project, app_label, model)``, what ``get_by_natural_key()`` takes."""
        return (self.project, self.app_label, self.model)


@on_reload
def _clear_cache_on_project_change() -> None:
    # Which types are local depends on PROJECT_NAME: never serve types of the old one.
    GenericContentType.objects.clear_cache()


class OutboxEvent(models.Model):
    """An event of this server waiting for (or done with) delivery to one peer.

    ``events`` writes one row per (event, peer) in the transaction that deletes an exposed
    object, so the event exists exactly when the deletion committed; delivery marks it
    ``delivered_at`` or schedules the next attempt.
    """

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4)
    peer = models.CharField(_("peer"), max_length=100)
    event_type = models.CharField(_("type"), max_length=20, default="deleted")
    app_label = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    object_pk = models.TextField(_("object pk"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "peer"], name="federated_relations_outbox_event_peer"
            )
        ]
        indexes = [
            models.Index(
                fields=["delivered_at", "next_attempt_at"],
                name="federated_relations_outbox_due",
            )
        ]

    def __str__(self) -> str:
        state = "delivered" if self.delivered_at else "pending"
        target = f"{self.app_label}.{self.model} {self.object_pk}"
        return f"{self.event_type} {target} -> {self.peer} ({state})"

    def as_event(self) -> dict[str, str]:
        """Return the event as the wire protocol sends it."""
        return {
            "id": str(self.event_id),
            "type": self.event_type,
            "app_label": self.app_label,
            "model": self.model,
            "pk": self.object_pk,
        }


class ReceivedEvent(models.Model):
    """An event a peer sent us and that was applied, so that it is applied only once."""

    id = models.BigAutoField(primary_key=True)
    sender = models.CharField(_("sender"), max_length=100)
    event_id = models.UUIDField(_("event id"))
    event_type = models.CharField(_("type"), max_length=20)
    app_label = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    object_pk = models.TextField(_("object pk"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("received event")
        verbose_name_plural = _("received events")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "event_id"], name="federated_relations_received_event"
            )
        ]

    def __str__(self) -> str:
        target = f"{self.app_label}.{self.model} {self.object_pk}"
        return f"{self.event_type} {target} from {self.sender}"
