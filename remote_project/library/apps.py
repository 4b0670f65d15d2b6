"""App configuration of remote_project's catalogue."""

from typing import Any

from django.apps import AppConfig


class LibraryConfig(AppConfig):
    """Hilltop Books' catalogue and staff picks."""

    name = "library"
    verbose_name = "Hilltop Books catalogue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Drop staff picks of a peer's book when the peer reports it deleted."""
        from federated_relations.signals import remote_deleted

        remote_deleted.connect(drop_recommendations, dispatch_uid="library.drop_recommendations")


def drop_recommendations(sender: Any, pk: str, **kwargs: Any) -> None:
    """Delete the staff picks of a remote book its shop reported deleted."""
    from .models import Recommendation

    Recommendation.objects.filter(content_type=sender, object_id=pk).delete()
