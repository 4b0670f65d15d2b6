"""The pages of example_project: both shops' books, book pages and readers' shelves."""

from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from federated_relations.exceptions import RemoteObjectDoesNotExist
from federated_relations.remote import remote
from through_models.models import Shelf, ShelfEntry

from .catalogue import (
    BOOK_LABEL,
    book_row,
    deleted_row,
    find_book,
    listing_rows,
    own_project,
    peer_projects,
    shop_name,
    sort_rows,
)
from .models import Book


def books(request: HttpRequest) -> HttpResponse:
    """List the books of both shops: title, shop, price."""
    rows = listing_rows()
    unavailable = [row for row in rows if not row.available]
    return render(
        request,
        "library/books.html",
        {
            "rows": rows,
            "unavailable": unavailable,
            "shops": [shop_name(own_project()), *map(shop_name, peer_projects())],
        },
    )


def book_detail(request: HttpRequest, project: str, pk: str) -> HttpResponse:
    """Show one book of any shop and the shelves it is on (the reverse accessor)."""
    if project == own_project():
        try:
            book = get_object_or_404(Book, pk=pk)
        except ValueError:
            raise Http404("no such book") from None
    elif project in peer_projects():
        book = remote(project, BOOK_LABEL, pk)
        try:
            book.title  # noqa: B018 - loads the book: does the peer still have it?
        except RemoteObjectDoesNotExist:
            raise Http404(f"{shop_name(project)} has no book {pk}") from None
        except AttributeError:
            pass  # the peer cannot be reached: the page says so
    else:
        raise Http404(f"unknown shop {project!r}")
    row = book_row(book)
    # book.shelves: Shelf.items's reverse accessor, for a Book row and a remote book alike.
    shelves = book.shelves.all().order_by("name")
    return render(request, "library/book_detail.html", {"book": row, "shelves": shelves})


def shelves(request: HttpRequest) -> HttpResponse:
    """List the readers' shelves."""
    return render(
        request, "library/shelves.html", {"shelves": Shelf.objects.order_by("name")}
    )


def shelf_detail(request: HttpRequest, shelf_id: int) -> HttpResponse:
    """Show a shelf's books of both shops, with forms to add and remove books."""
    shelf = get_object_or_404(Shelf, pk=shelf_id)
    entries = list(
        shelf.entries.select_related("content_type").prefetch_related("item").order_by("added_at")
    )
    items = [
        (
            entry,
            book_row(entry.item)
            if entry.item is not None
            else deleted_row(entry.content_type, entry.object_id),
        )
        for entry in entries
    ]
    on_shelf = {row.value for _entry, row in items}
    choices = [row for row in listing_rows() if row.available and row.value not in on_shelf]
    return render(
        request,
        "library/shelf_detail.html",
        {"shelf": shelf, "items": items, "choices": sort_rows(choices)},
    )


@require_POST
def shelf_add(request: HttpRequest, shelf_id: int) -> HttpResponse:
    """Put the book named ``project:pk`` (one of ours or a peer's) on the shelf."""
    shelf = get_object_or_404(Shelf, pk=shelf_id)
    try:
        book = find_book(request.POST.get("book", ""))
    except LookupError as error:
        messages.error(request, f"Cannot add that book: {error}.")
        return redirect("shelf_detail", shelf_id=shelf.pk)
    reason = request.POST.get("reason", "").strip()[:200]
    entry = ShelfEntry(shelf=shelf, item=book, reason=reason)
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        messages.info(request, "That book is already on the shelf.")
    else:
        messages.success(request, f"Added “{book_row(book).label}” to {shelf}.")
    return redirect("shelf_detail", shelf_id=shelf.pk)


@require_POST
def shelf_remove(request: HttpRequest, shelf_id: int, entry_id: int) -> HttpResponse:
    """Take a book off the shelf."""
    entry = get_object_or_404(ShelfEntry, pk=entry_id, shelf_id=shelf_id)
    label = book_row(entry.item).label if entry.item is not None else "the book"
    entry.delete()
    messages.success(request, f"Removed “{label}” from {entry.shelf}.")
    return redirect("shelf_detail", shelf_id=shelf_id)
