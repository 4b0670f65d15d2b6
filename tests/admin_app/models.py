"""Models of the forms and admin tests, after Django's ``generic_inline_admin`` tests."""

import uuid

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from federated_relations.fields import (
    FederatedForeignKey,
    FederatedManyToManyField,
    FederatedRelation,
)
from federated_relations.models import GenericContentType


class Media(models.Model):
    """A file attached to any object; the object id is text, as for remote targets."""

    content_type = models.ForeignKey(GenericContentType, models.CASCADE)
    object_id = models.CharField(max_length=64)
    content_object = FederatedForeignKey()
    url = models.CharField(max_length=200)
    description = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.url


class Episode(models.Model):
    """A parent with an integer pk."""

    name = models.CharField(max_length=100)
    length = models.CharField(max_length=100, blank=True)
    media = FederatedRelation(Media)

    def __str__(self):
        return self.name


class ProxyEpisode(Episode):
    """A proxy parent, for ``for_concrete_model=False``."""

    class Meta:
        proxy = True


class Category(models.Model):
    """A parent with a UUID pk."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=100)
    media = FederatedRelation(Media)

    def __str__(self):
        return self.name


class Note(models.Model):
    """An attachment whose object id is an integer column and whose fields are renamed."""

    text = models.CharField(max_length=100)
    owner_type = models.ForeignKey(GenericContentType, models.CASCADE)
    owner_id = models.PositiveIntegerField()
    owner = FederatedForeignKey("owner_type", "owner_id")

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.text


class Bookmark(models.Model):
    """An attachment through Django's own ``GenericForeignKey`` (a wrong target)."""

    content_type = models.ForeignKey(ContentType, models.CASCADE)
    object_id = models.CharField(max_length=64)
    content_object = GenericForeignKey()
    url = models.CharField(max_length=200)


class Gadget(models.Model):
    """A local target with a UUID pk, for the many-to-many admin tests."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Wishlist(models.Model):
    """A ``FederatedManyToManyField`` edited by a default ``ModelAdmin``."""

    name = models.CharField(max_length=100)
    items = FederatedManyToManyField(Gadget, blank=True, pk_maxlength=36)

    def __str__(self):
        return self.name
