"""System checks of federated_relations.

IDs (the ``gm2m.E…`` numbers are kept for ``FederatedManyToManyField``):

* ``E001`` a ``FederatedManyToManyField`` cannot be unique.
* ``E101``–``E110`` its ``through`` model and ``through_fields`` (gm2m E101–E110).
* ``E201``–``E205`` its reverse accessors and query names (gm2m E201–E205).
* ``E301`` a ``FederatedForeignKey``'s object id field does not exist.
* ``E302`` its content type field does not exist; ``E303`` it is not a ``ForeignKey``;
  ``E304`` it is not a ``ForeignKey`` to ``GenericContentType``.
* ``E305`` a ``FederatedRelation``'s model has no matching ``FederatedForeignKey``.
* ``E401`` the ``FEDERATION`` settings are malformed.
* ``E402`` ``FEDERATION['EXPOSE']`` names a model that is not installed;
  ``E403`` it names a field that the model does not have.

``FederatedForeignKey`` is a ``GenericForeignKey``, so contenttypes' own
``check_generic_foreign_keys`` runs its checks (E301–E304); this module checks the
other fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any

from django.apps import AppConfig, apps
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured

from .conf import federated_settings

__all__ = ["check_models", "check_settings", "exposed_model_errors", "validate_exposed_models"]


def _models(app_configs: Iterable[AppConfig] | None) -> Iterable[Any]:
    if app_configs is None:
        return apps.get_models()
    return chain.from_iterable(app_config.get_models() for app_config in app_configs)


def check_models(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Run the checks of every ``FederatedRelation`` declared on the models."""
    from .fields import FederatedRelation

    errors: list[Any] = []
    for model in _models(app_configs):
        for field in model._meta.private_fields:
            if isinstance(field, FederatedRelation) and field.model is model:
                errors.extend(field.check(**kwargs))
    return errors


def exposed_model_errors() -> list[tuple[str, str]]:
    """Return ``(check id, message)`` for each ``EXPOSE`` entry naming a missing model or field."""
    messages = []
    for label, field_names in federated_settings.EXPOSE.items():
        try:
            model = apps.get_model(label, require_ready=False)
        except LookupError:
            messages.append((
                "federated_relations.E402",
                f"FEDERATION['EXPOSE'] names {label!r}, which is not an installed model.",
            ))
            continue
        for name in field_names:
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                field = None
            if field is None or not field.concrete:
                messages.append((
                    "federated_relations.E403",
                    f"FEDERATION['EXPOSE'][{label!r}] names {name!r}, which is not a "
                    f"field with a column on {label}.",
                ))
    return messages


def validate_exposed_models() -> None:
    """Raise ``ImproperlyConfigured`` if ``EXPOSE`` names a missing model or field."""
    messages = [message for _id, message in exposed_model_errors()]
    if messages:
        raise ImproperlyConfigured(" ".join(messages))


def check_settings(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Report malformed ``FEDERATION`` settings as check errors (after a settings change)."""
    try:
        federated_settings.validate()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="federated_relations.E401")]
    return [checks.Error(message, id=id) for id, message in exposed_model_errors()]
