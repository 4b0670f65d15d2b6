"""``manage.py sync_listings``: list the peers' books here (run once the peers are up)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from federated_relations.exceptions import FederationError
from federated_relations.models import GenericContentType
from library.catalogue import BOOK_LABEL, peer_projects, shop_name, sync_listings
from library.models import Listing, ReadingList
from through_models.models import Shelf, ShelfEntry

#: On the first sync, these many of a peer's books go on the first shelf, so that the
#: shelves show books of both shops from the start.
FIRST_SHELVED = 2


class Command(BaseCommand):
    """Create a listing for every book of every peer, and drop listings of books gone."""

    help = "List the books of every peer (FEDERATION['PEERS']) on this shop's pages."

    def add_arguments(self, parser: Any) -> None:
        """Add ``--peer`` to sync one peer only."""
        parser.add_argument("--peer", action="append", help="sync this peer only")

    def handle(self, *args: Any, **options: Any) -> None:
        """Sync each peer; fail (exit status 1) if one cannot be read."""
        failed = []
        for project in options["peer"] or peer_projects():
            first_time = not Listing.objects.filter(content_type__project=project).exists()
            try:
                added, removed = sync_listings(project)
            except FederationError as error:
                failed.append(project)
                self.stderr.write(f"{shop_name(project)} ({project}) cannot be read: {error}")
                continue
            self.stdout.write(
                f"{shop_name(project)} ({project}): {added} book(s) listed, "
                f"{removed} listing(s) of deleted books dropped"
            )
            if first_time and added:
                self._shelve_first_books(project)
        if failed:
            raise CommandError(f"could not sync {', '.join(failed)}")

    @transaction.atomic
    def _shelve_first_books(self, project: str) -> None:
        shelf = Shelf.objects.order_by("name").first()
        if shelf is None:
            return
        app_label, model = BOOK_LABEL.lower().split(".")
        content_type = GenericContentType.objects.get_for_remote(project, app_label, model)
        listings = Listing.objects.filter(content_type=content_type).order_by("id")
        for listing in listings[:FIRST_SHELVED]:
            ShelfEntry.objects.get_or_create(
                shelf=shelf,
                content_type=content_type,
                object_id=listing.object_id,
                defaults={"reason": f"spotted at {shop_name(project)}"},
            )
        self.stdout.write(f"put {FIRST_SHELVED} of its books on {shelf}")
        reading_list = ReadingList.objects.order_by("name").first()
        if reading_list is not None:
            reading_list.books.add(*(listing.book for listing in listings[:FIRST_SHELVED]))
            self.stdout.write(f"put {FIRST_SHELVED} of its books on {reading_list}")
