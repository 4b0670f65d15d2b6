"""The demo's small API: shelves and reading lists with books of both shops.

``GET /api/shelves/`` lists the shelves with their books (read-only: a shelf's items go
through ``ShelfEntry``, edited on the shelf pages). ``/api/reading-lists/`` reads and
writes reading lists: ``{"name": ..., "books": [{"type": "shop_b:library.book", "id": "3"}]}``.
"""

from __future__ import annotations

from rest_framework import generics, serializers

from federated_relations.contrib.rest_framework import FederatedRelatedField
from through_models.models import Shelf

from .catalogue import peer_projects
from .models import Book, ReadingList


class BookSerializer(serializers.ModelSerializer):
    """A book of this shop, nested in each reference to it."""

    class Meta:
        model = Book
        fields = ["title", "author", "price"]


def book_types() -> list[object]:
    """Return what a reference to a book may name: ours, or a peer's ``library.book``."""
    return [Book, *(f"{project}:library.book" for project in peer_projects())]


class ShelfSerializer(serializers.ModelSerializer):
    """A shelf with its books, local ones nested, remote ones with their exposed fields."""

    items = FederatedRelatedField(
        many=True, read_only=True, serializers={Book: BookSerializer}, remote_fields=True
    )

    class Meta:
        model = Shelf
        fields = ["id", "name", "items"]


class ReadingListSerializer(serializers.ModelSerializer):
    """A reading list; its books may be written as ``{"type", "id"}`` references."""

    books = FederatedRelatedField(many=True, types=book_types(), allow_empty=True)

    class Meta:
        model = ReadingList
        fields = ["id", "name", "books"]


class ShelfList(generics.ListAPIView):
    """Every shelf, its books prefetched for the whole page (one request per peer)."""

    queryset = Shelf.objects.order_by("name")
    serializer_class = ShelfSerializer


class ReadingListList(generics.ListCreateAPIView):
    """Every reading list; POST creates one."""

    queryset = ReadingList.objects.order_by("name")
    serializer_class = ReadingListSerializer


class ReadingListDetail(generics.RetrieveUpdateDestroyAPIView):
    """One reading list; PUT/PATCH replace its books."""

    queryset = ReadingList.objects.all()
    serializer_class = ReadingListSerializer
