"""App configuration: validate settings, register checks, connect receivers."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from .conf import federated_settings

__all__ = ["FederatedRelationsConfig"]


class FederatedRelationsConfig(AppConfig):
    name = "federated_relations"
    verbose_name = _("Federated relations")
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # The one place imports wait for a function (the ruff PLC0415 allow-list): Django
        # imports this module while it populates the app registry, before any model can be
        # imported, and every module below defines or imports models.
        from . import added_relations, events  # noqa: PLC0415
        from . import checks as federated_checks  # noqa: PLC0415
        from .management import create_generic_content_types  # noqa: PLC0415
        from .serializers import check_serialization_modules  # noqa: PLC0415

        # Malformed settings fail at startup, naming the key.
        federated_settings.validate()
        federated_checks.validate_exposed_models()
        post_migrate.connect(create_generic_content_types)
        checks.register(federated_checks.check_settings, checks.Tags.compatibility)
        checks.register(federated_checks.check_models, checks.Tags.models)
        checks.register(federated_checks.check_urls, checks.Tags.urls)
        checks.register(check_serialization_modules, checks.Tags.models)
        # Deleting an exposed object records a deletion event for the peers (outbox).
        events.connect_receivers()
        # Undeclared targets get back the reverse relation of their first add().
        connection_created.connect(added_relations.restore_on_connect)
        # Events an earlier process left pending go out without waiting for a deletion.
        connection_created.connect(events.resume_on_connect)
        post_migrate.connect(added_relations.restore_after_migrate)
