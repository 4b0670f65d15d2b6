"""App configuration: validate settings, register checks, connect receivers."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

__all__ = ["FederatedRelationsConfig"]


class FederatedRelationsConfig(AppConfig):
    name = "federated_relations"
    verbose_name = _("Federated relations")
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks as federated_checks
        from . import events
        from .conf import federated_settings
        from .management import create_generic_content_types

        # Malformed settings fail at startup, naming the key.
        federated_settings.validate()
        federated_checks.validate_exposed_models()
        post_migrate.connect(create_generic_content_types)
        checks.register(federated_checks.check_settings, checks.Tags.compatibility)
        checks.register(federated_checks.check_models, checks.Tags.models)
        # Deleting an exposed object records a deletion event for the peers (outbox).
        events.connect_receivers()
