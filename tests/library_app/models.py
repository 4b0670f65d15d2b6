"""Exposed and unexposed models of the federation server tests."""

from __future__ import annotations

import uuid

from django.db import models

from federated_relations.fields import FederatedForeignKey

__all__ = [
    "Author", "Book", "Bookmark", "BookmarkNote", "Citation", "Ledger", "Pamphlet", "Shelf",
]


class Author(models.Model):
    """A model with an integer pk, exposed by name only."""

    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    """The main exposed model: some fields exposed, ``secret_note`` never."""

    title = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=6, decimal_places=2)
    published = models.DateField(null=True, blank=True)
    in_print = models.BooleanField(default=True)
    author = models.ForeignKey(Author, null=True, blank=True, on_delete=models.SET_NULL)
    secret_note = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return self.title


class Pamphlet(models.Model):
    """An exposed model with a UUID primary key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=100)
    secret_note = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return self.title


class Shelf(models.Model):
    """An exposed model with a string primary key."""

    code = models.CharField(max_length=20, primary_key=True)
    label = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.label


class Ledger(models.Model):
    """A model that is never exposed."""

    amount = models.IntegerField()

    def __str__(self) -> str:
        return f"ledger {self.pk}"


class Bookmark(models.Model):
    """Points at a book, maybe a peer's; goes with it when the peer deletes it."""

    content_type = models.ForeignKey(
        "federated_relations.GenericContentType", on_delete=models.CASCADE
    )
    object_id = models.CharField(max_length=255)
    target = FederatedForeignKey(on_remote_delete=models.CASCADE)
    label = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"bookmark {self.pk}"


class BookmarkNote(models.Model):
    """A note on a bookmark: deleted with it (the collector's cascade)."""

    bookmark = models.ForeignKey(Bookmark, on_delete=models.CASCADE, related_name="notes")
    text = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"note {self.pk}"


class Citation(models.Model):
    """Points at a book, maybe a peer's; forgets it when the peer deletes it."""

    content_type = models.ForeignKey(
        "federated_relations.GenericContentType", on_delete=models.CASCADE, null=True
    )
    object_id = models.PositiveIntegerField(null=True)
    target = FederatedForeignKey(on_remote_delete=models.SET_NULL)

    def __str__(self) -> str:
        return f"citation {self.pk}"
