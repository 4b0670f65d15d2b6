"""``manage.py recommend_peer_books``: add staff picks of the peers' books, once."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from federated_relations.exceptions import FederationError
from federated_relations.remote import RemoteModel
from library.models import Recommendation

#: Books of the peers' shops worth recommending (title, note); found by title.
PEER_PICKS = [
    ("Vanity Fair", "not sold here: worth the walk to Riverside"),
    ("The Secret Garden", "Riverside has it, we don't"),
]


class Command(BaseCommand):
    """Recommend some of each peer's books unless that was done (run once peers are up)."""

    help = "Add staff picks of books sold by the peers (FEDERATION['PEERS'])."

    def handle(self, *args: Any, **options: Any) -> None:
        """Find the books by title on each peer (``RemoteModel.filter``) and pick them."""
        failed = []
        for project in sorted(settings.FEDERATION.get("PEERS", {})):
            if Recommendation.objects.filter(content_type__project=project).exists():
                continue
            books = RemoteModel(project, "library.Book")
            try:
                found = [
                    (book, note)
                    for title, note in PEER_PICKS
                    for book in books.filter(title=title)
                ]
            except FederationError as error:
                failed.append(project)
                self.stderr.write(f"{project} cannot be read: {error}")
                continue
            for book, note in found:
                Recommendation.objects.create(book=book, note=note)
            self.stdout.write(f"{project}: {len(found)} staff pick(s) added")
        if failed:
            raise CommandError(f"could not read {', '.join(failed)}")
