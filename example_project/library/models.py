"""Riverside Books' own books and the listings that put both shops' books on one page.

A ``Listing`` points with a ``FederatedForeignKey`` at a book of this shop (a ``Book``
row) or of the peer ``shop_b`` (a ``RemoteObject`` read through the federation), so one
queryset of listings, prefetched, gives the books of both shops. Readers' shelves are
``through_models.Shelf`` (a ``FederatedManyToManyField`` through ``ShelfEntry``); a
``ReadingList`` holds books of both shops in a ``FederatedManyToManyField`` with its
auto-created through table, edited by a default ``ModelAdmin``.
"""

from django.db import models

from federated_relations.fields import (
    FederatedForeignKey,
    FederatedManyToManyField,
    FederatedRelation,
)
from federated_relations.models import GenericContentType


class Book(models.Model):
    """A book on sale in this shop."""

    title = models.CharField(max_length=200)
    author = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=7, decimal_places=2)
    listings = FederatedRelation("library.Listing")

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Listing(models.Model):
    """A book offered on this shop's ``/books/`` page: one of ours, or one of a peer's."""

    content_type = models.ForeignKey(GenericContentType, models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    book = FederatedForeignKey()
    listed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id"], name="listing_unique_book"
            )
        ]

    def __str__(self) -> str:
        return f"listing of {self.content_type} #{self.object_id}"


class ReadingList(models.Model):
    """Books a reader means to read, of this shop (``Book``) or of a peer."""

    name = models.CharField(max_length=100)
    books = FederatedManyToManyField(Book, blank=True, related_name="reading_lists")

    def __str__(self) -> str:
        return self.name
