"""App configuration of example_project's shop."""

from typing import Any

from django.apps import AppConfig


class LibraryConfig(AppConfig):
    """Riverside Books: its catalogue, the federated listings and the readers' shelves."""

    name = "library"
    verbose_name = "Riverside Books"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Give ``Book`` the reverse accessor of the shelves (``book.shelves``) from the start.

        ``Shelf.items`` declares no target model (it takes any), so, as with django-gm2m,
        a model gets its reverse relation when one of its objects is first shelved, or
        when it is added explicitly, as here.
        """
        from federated_relations.signals import remote_deleted
        from through_models.models import Shelf

        Shelf.items.add_relation("library.Book")
        # A peer's deletion event removes the book from shelves (on_delete_tgt CASCADE of
        # Shelf.items); listings point at it with a FederatedForeignKey, dropped here.
        remote_deleted.connect(drop_listings, dispatch_uid="library.drop_listings")


def drop_listings(sender: Any, pk: str, **kwargs: Any) -> None:
    """Delete the listings of a remote book its shop reported deleted."""
    from .models import Listing

    Listing.objects.filter(content_type=sender, object_id=pk).delete()
