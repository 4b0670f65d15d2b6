"""``post_migrate`` handler: create this project's types of every installed model.

Rows made in advance, as Django makes ``ContentType`` rows, keep a type created lazily
inside a rolled-back transaction (a test) from leaving a stale id in the cache.
"""

from __future__ import annotations

from typing import Any, cast

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS, router

from ..conf import federated_settings
from ..models import GenericContentType

__all__ = ["create_generic_content_types"]


def create_generic_content_types(
    app_config: AppConfig,
    verbosity: int = 2,
    using: str = DEFAULT_DB_ALIAS,
    apps: Any = global_apps,
    **kwargs: Any,
) -> None:
    """Create the missing local ``GenericContentType`` rows of ``app_config``'s models."""
    if not app_config.models_module:
        return
    try:
        state_model = apps.get_model("federated_relations", "GenericContentType")
    except LookupError:
        return  # migrated backwards past our table
    if not router.allow_migrate_model(using, state_model):
        return
    GenericContentType.objects.clear_cache()

    project = federated_settings.PROJECT_NAME
    # model_name is set on every model class (None only on Options not given to one).
    wanted = {cast(str, model._meta.model_name) for model in app_config.get_models()}
    existing = set(
        state_model.objects.using(using)
        .filter(project=project, app_label=app_config.label)
        .values_list("model", flat=True)
    )
    new = [
        state_model(project=project, app_label=app_config.label, model=name)
        for name in sorted(wanted - existing)
    ]
    if new:
        state_model.objects.using(using).bulk_create(new, ignore_conflicts=True)
        if verbosity >= 2:
            for obj in new:
                print(f"Adding generic content type '{project} | {obj.app_label} | {obj.model}'")
