"""Models of the test suite, after Django's ``generic_relations`` tests."""

import uuid

from django.db import models

from federated_relations.fields import FederatedForeignKey, FederatedRelation
from federated_relations.models import GenericContentType


class TaggedItem(models.Model):
    """A tag on any object, local or remote; the object id is text."""

    tag = models.SlugField()
    content_type = models.ForeignKey(GenericContentType, models.CASCADE)
    object_id = models.CharField(max_length=64)
    content_object = FederatedForeignKey()

    class Meta:
        ordering = ["tag", "content_type__model"]

    def __str__(self):
        return self.tag


class IntegerTaggedItem(models.Model):
    """A tag whose object id is an integer column, as in Django's own tests."""

    tag = models.SlugField()
    content_type = models.ForeignKey(GenericContentType, models.CASCADE)
    object_id = models.PositiveIntegerField()
    content_object = FederatedForeignKey()


class ValuableTaggedItem(TaggedItem):
    value = models.PositiveIntegerField()


class Comparison(models.Model):
    """Two federated foreign keys on one model."""

    comparative = models.CharField(max_length=50)
    content_type1 = models.ForeignKey(GenericContentType, models.CASCADE, related_name="+")
    object_id1 = models.CharField(max_length=64)
    content_type2 = models.ForeignKey(
        GenericContentType, models.CASCADE, related_name="+", null=True
    )
    object_id2 = models.CharField(max_length=64, null=True)  # noqa: DJ001
    first_obj = FederatedForeignKey(ct_field="content_type1", fk_field="object_id1")
    other_obj = FederatedForeignKey(ct_field="content_type2", fk_field="object_id2")


class Animal(models.Model):
    common_name = models.CharField(max_length=150)
    latin_name = models.CharField(max_length=150)
    tags = FederatedRelation(TaggedItem, related_query_name="animal")
    comparisons = FederatedRelation(
        Comparison, object_id_field="object_id1", content_type_field="content_type1"
    )

    def __str__(self):
        return self.common_name


class Vegetable(models.Model):
    name = models.CharField(max_length=150)
    is_yucky = models.BooleanField(default=True)
    tags = FederatedRelation(TaggedItem)

    def __str__(self):
        return self.name


class Mineral(models.Model):
    name = models.CharField(max_length=150)
    hardness = models.PositiveSmallIntegerField()
    # Mineral has no FederatedRelation to TaggedItem: forward access only.

    def __str__(self):
        return self.name


class Gecko(models.Model):
    has_tail = models.BooleanField(default=False)


class ProxyMineral(Mineral):
    class Meta:
        proxy = True


class UUIDBook(models.Model):
    """A target with a UUID primary key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=100)
    tags = FederatedRelation(TaggedItem, related_query_name="uuid_book")


class SlugBook(models.Model):
    """A target with a string primary key."""

    slug = models.CharField(max_length=50, primary_key=True)
    title = models.CharField(max_length=100)
    tags = FederatedRelation(TaggedItem, related_query_name="slug_book")


class BigBook(models.Model):
    """A target with a big-integer primary key."""

    id = models.BigAutoField(primary_key=True)
    title = models.CharField(max_length=100)
    int_tags = FederatedRelation(IntegerTaggedItem, related_query_name="big_book")
