"""Custom through models for ``FederatedManyToManyField``, used by the demo and the tests.

* ``Shelf.items`` goes through ``ShelfEntry``, which records when and why an item (local or
  remote) was shelved; it types targets with ``GenericContentType``.
* ``Playlist.tracks`` goes through ``PlaylistEntry``, written as for django-gm2m (a
  ``ContentType`` foreign key and a ``GenericForeignKey``): it keeps working when the
  field is a ``FederatedManyToManyField`` (local targets only).
"""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from federated_relations.fields import FederatedForeignKey, FederatedManyToManyField
from federated_relations.models import GenericContentType

__all__ = ["Playlist", "PlaylistEntry", "Shelf", "ShelfEntry"]


class Shelf(models.Model):
    """A named shelf of items of any model, on this server or a peer."""

    name = models.CharField(max_length=100)
    items = FederatedManyToManyField(through="through_models.ShelfEntry", related_name="shelves")

    def __str__(self) -> str:
        return self.name


class ShelfEntry(models.Model):
    """One item on a shelf, with when and why it was put there."""

    shelf = models.ForeignKey(Shelf, models.CASCADE, related_name="entries")
    content_type = models.ForeignKey(GenericContentType, models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    item = FederatedForeignKey()
    added_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["shelf", "content_type", "object_id"], name="shelf_entry_unique_item"
            )
        ]
        verbose_name_plural = "shelf entries"

    def __str__(self) -> str:
        return f"{self.shelf}: {self.content_type_id}/{self.object_id}"


class Playlist(models.Model):
    """A playlist whose through model was written for django-gm2m."""

    name = models.CharField(max_length=100)
    tracks = FederatedManyToManyField(through="through_models.PlaylistEntry")

    def __str__(self) -> str:
        return self.name


class PlaylistEntry(models.Model):
    """A gm2m-style through row: ``ContentType`` foreign key and ``GenericForeignKey``."""

    playlist = models.ForeignKey(Playlist, models.CASCADE)
    track_ct = models.ForeignKey(ContentType, models.CASCADE)
    track_fk = models.CharField(max_length=255)
    track = GenericForeignKey(ct_field="track_ct", fk_field="track_fk")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "playlist entries"

    def __str__(self) -> str:
        return f"{self.playlist} #{self.position}"
