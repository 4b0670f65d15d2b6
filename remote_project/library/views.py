"""The one page of remote_project: its catalogue and staff picks, with links to the admin."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from federated_relations.remote import RemoteObject

from .models import Book, Recommendation


def index(request: HttpRequest) -> HttpResponse:
    """Render this shop's books and its staff picks (of either shop, prefetched)."""
    picks = []
    for pick in Recommendation.objects.select_related("content_type").prefetch_related("book"):
        book = pick.book
        if book is None:
            continue
        remote = isinstance(book, RemoteObject)
        available = not remote or book.is_available
        picks.append(
            {
                "name": book.title if available else str(book),
                "price": book.price if available else None,
                "shop": settings.DEMO_SHOP_NAMES.get(pick.content_type.project),
                "remote": remote,
                "note": pick.note,
            }
        )
    return render(
        request,
        "library/index.html",
        {"books": Book.objects.all(), "picks": picks, "shop_name": settings.DEMO_SHOP_NAME},
    )
