"""What the demo shows of both shops: listing rows, book choices and listings sync.

Views and management commands share these functions; remote books always come through
``federated_relations`` (a prefetched ``FederatedForeignKey``, ``remote()`` or
``RemoteModel``), never from the peer's database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction

from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteModel, RemoteObject, remote

from .models import Book, Listing

#: The model label of books in every shop of the federation.
BOOK_LABEL = "library.Book"


def own_project() -> str:
    """Return this server's name in the federation."""
    return settings.FEDERATION["PROJECT_NAME"]


def peer_projects() -> list[str]:
    """Return the names of the peers this server reads books from."""
    return sorted(settings.FEDERATION.get("PEERS", {}))


def shop_name(project: str) -> str:
    """Return the name people see for a project."""
    return settings.DEMO_SHOP_NAMES.get(project, project)


@dataclass
class BookRow:
    """One book as the pages show it, whichever shop owns it."""

    project: str
    pk: str
    title: str
    author: str
    price: Decimal | None
    available: bool
    label: str

    @property
    def shop(self) -> str:
        """Return the owning shop's name."""
        return shop_name(self.project)

    @property
    def is_remote(self) -> bool:
        """Return whether a peer owns the book."""
        return self.project != own_project()

    @property
    def value(self) -> str:
        """Return the form value that names this book: ``project:pk``."""
        return f"{self.project}:{self.pk}"


def deleted_row(content_type: GenericContentType, object_id: str) -> BookRow:
    """Return the row of a book that no longer exists (its shop deleted it)."""
    label = f"{content_type.app_label}.{content_type.model} {object_id} (deleted)"
    return BookRow(content_type.project, object_id, "", "", None, False, label)


def _price(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def book_row(book: Any) -> BookRow:
    """Return the row of a local ``Book`` or of a ``RemoteObject`` (maybe a placeholder)."""
    if isinstance(book, RemoteObject):
        if book.is_available:
            return BookRow(
                book.project, str(book.pk), book.title, book.author, _price(book.price),
                True, str(book),
            )
        return BookRow(book.project, str(book.pk), "", "", None, False, str(book))
    return BookRow(
        own_project(), str(book.pk), book.title, book.author, book.price, True, str(book)
    )


def sort_rows(rows: list[BookRow]) -> list[BookRow]:
    """Return the rows by title, then shop; unavailable remote books last."""
    return sorted(rows, key=lambda row: (not row.available, row.title.lower(), row.shop))


def listing_rows() -> list[BookRow]:
    """Return every listed book of every shop, loaded in one batch per shop.

    The prefetch of the ``FederatedForeignKey`` runs one query for this shop's books and
    one signed, batched request per peer for theirs; a peer that cannot be reached gives
    placeholders, shown as unavailable.
    """
    listings = Listing.objects.select_related("content_type").prefetch_related("book")
    return sort_rows([book_row(listing.book) for listing in listings if listing.book])


def find_book(value: str) -> Any:
    """Return the book named by a ``project:pk`` form value (a ``Book`` or a reference).

    Raises ``LookupError`` when the value names no known shop, or a book that its shop
    does not have (or cannot tell, being unreachable).
    """
    project, _sep, pk = value.partition(":")
    if not pk:
        raise LookupError(f"not a book: {value!r}")
    if project == own_project():
        try:
            return Book.objects.get(pk=pk)
        except (Book.DoesNotExist, ValueError):
            raise LookupError(f"no book {pk!r} in this shop") from None
    if project not in peer_projects():
        raise LookupError(f"unknown shop {project!r}")
    book = remote(project, BOOK_LABEL, pk)
    if not book.is_available:  # asks the peer (or its cache)
        raise LookupError(f"{shop_name(project)} has no book {pk} or cannot be reached")
    return book


def sync_listings(project: str) -> tuple[int, int]:
    """List every book of peer ``project`` here and drop the listings of books it lost.

    Reads the peer's catalogue page by page (``RemoteModel.all()``); returns
    ``(added, removed)``. Raises ``FederationError`` when the peer cannot be read.
    """
    books = list(RemoteModel(project, BOOK_LABEL).all())
    content_type = GenericContentType.objects.get_for_remote(project, "library", "book")
    wanted = {str(book.pk) for book in books}
    with transaction.atomic():
        listed = set(
            Listing.objects.filter(content_type=content_type).values_list("object_id", flat=True)
        )
        Listing.objects.bulk_create(
            Listing(content_type=content_type, object_id=pk)
            for pk in sorted(wanted - listed, key=_pk_order)
        )
        gone = listed - wanted
        if gone:
            Listing.objects.filter(content_type=content_type, object_id__in=gone).delete()
    return len(wanted - listed), len(gone)


def _pk_order(pk: str) -> tuple[int, str]:
    return (int(pk), "") if pk.isdigit() else (0, pk)
