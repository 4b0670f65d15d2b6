"""System checks of federated_relations.

IDs (the ``gm2m.E…`` numbers are kept for ``FederatedManyToManyField``):

* ``E001`` a ``FederatedManyToManyField`` cannot be unique; ``E002`` the pk of a model it
  declares is longer than its ``pk_maxlength`` (or its through model's id column).
* ``E101``–``E110`` its ``through`` model and ``through_fields`` (gm2m E101–E110).
* ``E201``–``E205`` its reverse accessors and query names (gm2m E201–E205).
* ``E111`` its ``tenant_field`` names no field of the source; its custom through model
  declares no tenant (``E112``), has a unique constraint without it (``E113``) or a primary
  key without it (``W114``): see docs/multitenant.md.
* ``E301`` a ``FederatedForeignKey``'s object id field does not exist.
* ``E302`` its content type field does not exist; ``E303`` it is not a ``ForeignKey``;
  ``E304`` it is not a ``ForeignKey`` to ``GenericContentType``.
* ``E305`` a ``FederatedRelation``'s model has no matching ``FederatedForeignKey``.
* ``E307`` a ``FederatedRelation``'s ``tenant_field`` names no field of its rows' model.
* ``E401`` the ``FEDERATION`` settings are malformed.
* ``E402`` ``FEDERATION['EXPOSE']`` names a model that is not installed;
  ``E403`` it names a field that the model does not have.
* ``W701`` ``PEERS`` names peers but ``ROOT_URLCONF`` does not mount
  ``federated_relations.urls``: the peers' deletion events (and their reads of what this
  server exposes) cannot reach this server.
* ``E501``–``E505`` a federated admin inline (``admin.E301``–``admin.E304``, run by the
  ``ModelAdmin`` check, defined in ``admin.py``): ``E501`` its model has no
  ``FederatedForeignKey``; ``E502`` ``ct_field`` / ``E503`` ``ct_fk_field`` is not a field
  of it; ``E504`` no ``FederatedForeignKey`` uses both; ``E505`` ``ct_field`` is not a
  ``ForeignKey`` to ``GenericContentType``.

``FederatedForeignKey`` is a ``GenericForeignKey``, so contenttypes' own
``check_generic_foreign_keys`` runs its checks (E301–E304); this module checks the
other fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver

from . import registry
from .conf import federated_settings
from .generic import FederatedRelation

__all__ = [
    "check_models",
    "check_settings",
    "check_urls",
    "exposed_model_errors",
    "validate_exposed_models",
]


def _models(app_configs: Iterable[AppConfig] | None) -> Iterable[Any]:
    if app_configs is None:
        return apps.get_models()
    return chain.from_iterable(app_config.get_models() for app_config in app_configs)


def check_models(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Run the checks of every ``FederatedRelation`` declared on the models."""
    errors: list[Any] = []
    for model in _models(app_configs):
        for field in model._meta.private_fields:
            if isinstance(field, FederatedRelation) and field.model is model:
                errors.extend(field.check(**kwargs))
    return errors


def exposed_model_errors() -> list[tuple[str, str]]:
    """Return ``(check id, message)`` for each ``EXPOSE`` entry naming a missing model or field."""
    return registry.exposure_errors()


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


#: The view the peers post their deletion events to; found by name so that checking the
#: URLconf does not import the views.
_EVENTS_VIEW = "federated_relations.views.events"


def _mounts_events(patterns: Iterable[Any]) -> bool:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if _mounts_events(pattern.url_patterns):
                return True
        elif isinstance(pattern, URLPattern) and pattern.lookup_str == _EVENTS_VIEW:
            return True
    return False


def check_urls(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Warn when a server with peers does not mount the endpoints its peers call.

    Every server of ``PEERS`` delivers its deletion events to this one, whether this
    server exposes models or only points at the peers' objects.
    """
    try:
        peers = federated_settings.PEERS
    except ImproperlyConfigured:
        return []  # the settings check reports it (E401)
    if not peers:
        return []
    try:
        mounted = _mounts_events(get_resolver().url_patterns)
    except Exception:  # Django's own URL checks report a broken URLconf
        return []
    if mounted:
        return []
    names = ", ".join(repr(name) for name in sorted(peers))
    return [
        checks.Warning(
            f"FEDERATION['PEERS'] names {names}, but ROOT_URLCONF "
            f"({getattr(settings, 'ROOT_URLCONF', None)!r}) does not include "
            "federated_relations.urls: this server will miss the deletion events its peers "
            "send, so rows pointing at their deleted objects are never cascaded, kept or "
            "signalled by on_delete_tgt / on_remote_delete, and peers cannot read what "
            "FEDERATION['EXPOSE'] offers.",
            hint=(
                'Add path("federation/", include("federated_relations.urls")) to the '
                "URLconf, at the URL the peers have for this server in their "
                "FEDERATION['PEERS']."
            ),
            id="federated_relations.W701",
        )
    ]
