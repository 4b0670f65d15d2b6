"""Reverse relations of undeclared targets, restored in every new process.

A ``FederatedManyToManyField`` gives the models it declares their reverse relation
(``movie.user_set``) when the models load. A model it does not declare gets one at its
first ``add()``, with ``add_relation(model, auto=True)``; the rows outlive the process,
but the relation did not. ``restore_added_relations`` gives it back from the data: the
local types that have through rows get their relation, as a first ``add()`` would have
given it.

Nothing is queried at import time: it runs when a process first connects to a database
(``connection_created``, once per database alias; one query per field, an ``EXISTS``
probe per type on the indexed type column) and after ``migrate``. Until then, as before
any ``add()``, an undeclared model has no accessor; declaring the model on the field, or
calling ``add_relation()`` in an ``AppConfig.ready()``, needs no database at all.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Exists, OuterRef

from .conf import SHARED_PROJECT, federated_settings
from .deletion import federated_m2m_fields
from .fields import RELATIONS_LOCK, FederatedManyToManyField
from .models import GenericContentType

__all__ = ["restore_added_relations", "restore_after_migrate", "restore_on_connect"]

logger = logging.getLogger(__name__)

#: Database aliases whose relations this process restored (or tried to).
_restored: set[str] = set()
#: Aliases being restored (by this thread: RELATIONS_LOCK is held meanwhile).
_restoring: set[str] = set()




def _target_models(field: FederatedManyToManyField, using: str) -> list[Any]:
    """Return the local models that have through rows of ``field`` on ``using``."""
    link = field.link
    rows = link.through._base_manager.db_manager(using).filter(
        **{link.content_type_field.attname: OuterRef("pk")}
    )
    if link.is_generic:
        types = GenericContentType.objects.db_manager(using).filter(
            project__in=(federated_settings.PROJECT_NAME, SHARED_PROJECT)
        )
    else:
        types = ContentType.objects.db_manager(using).all()
    names = types.filter(Exists(rows)).values_list("app_label", "model")
    return [model for label, name in names if (model := _get_model(label, name)) is not None]


def _get_model(app_label: str, model_name: str) -> Any:
    try:
        return apps.get_model(app_label, model_name)
    except LookupError:
        return None  # a type whose app is no longer installed


def restore_added_relations(using: str) -> list[tuple[FederatedManyToManyField, Any]]:
    """Give every local model with through rows on ``using`` its reverse relation.

    Return the ``(field, model)`` pairs that were added. Fields whose through table is
    not on ``using`` (routers) or does not exist yet (before ``migrate``) are skipped.
    """
    added = []
    for field in federated_m2m_fields():
        if isinstance(field.remote_field.through, str):
            continue  # a through model that is not installed (checks report it)
        through = field.link.through
        if not router.allow_migrate_model(using, through):
            continue
        # A savepoint inside a transaction, so that a missing table does not break it.
        guard = transaction.atomic(using=using) if connections[using].in_atomic_block else None
        try:
            with guard or nullcontext():
                models = _target_models(field, using)
        except DatabaseError as error:
            logger.debug("Reverse relations of %s not restored on %r: %s", field, using, error)
            continue
        for model in models:
            concrete = model._meta.concrete_model if field.for_concrete_model else model
            if concrete not in field.reverse_fields:
                field.add_relation(model, auto=True)
                added.append((field, model))
    return added


def restore_on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Restore the relations on the first connection of this process to each database."""
    if not apps.ready or connection.alias not in settings.DATABASES:
        # Models still loading (a connection opened by an app's ready()), or a
        # connection of Django's own (the PostgreSQL "no database" one of test setup).
        return
    alias = connection.alias
    # Held across the restore: another thread connecting meanwhile waits until the
    # accessors exist, instead of going on without them.
    with RELATIONS_LOCK:
        if alias in _restored or alias in _restoring:
            return  # done, or a connection opened by this restore itself
        _restoring.add(alias)
        try:
            restore_added_relations(alias)
        finally:
            _restoring.discard(alias)
            _restored.add(alias)


def restore_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """Restore the relations once ``migrate`` created the tables (sent once per app)."""
    if sender is not None and sender.name == "federated_relations":
        restore_added_relations(using)
