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
    tags = FederatedRelation(TaggedItem, related_query_name="big_book")
    int_tags = FederatedRelation(IntegerTaggedItem, related_query_name="big_book_int")


class IntBook(models.Model):
    """A target with a plain (32-bit) integer primary key."""

    id = models.AutoField(primary_key=True)
    title = models.CharField(max_length=100)
    tags = FederatedRelation(TaggedItem, related_query_name="int_book")


class DateBook(models.Model):
    """A target with a date primary key (for the pk round-trip properties)."""

    day = models.DateField(primary_key=True)
    tags = FederatedRelation(TaggedItem, related_query_name="date_book")


class NullableTaggedItem(models.Model):
    """A federated foreign key that may be empty, like Django's ``AllowsNullGFK``."""

    content_type = models.ForeignKey(GenericContentType, models.SET_NULL, null=True, blank=True)
    object_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    content_object = FederatedForeignKey()


class ForConcreteModelModel(models.Model):
    """Points at proxies through their concrete model (the default)."""

    content_type = models.ForeignKey(GenericContentType, models.CASCADE)
    object_id = models.CharField(max_length=64)
    obj = FederatedForeignKey()


class ForProxyModelModel(models.Model):
    """Points at proxies as proxies (``for_concrete_model=False``)."""

    content_type = models.ForeignKey(GenericContentType, models.CASCADE)
    object_id = models.CharField(max_length=64)
    obj = FederatedForeignKey(for_concrete_model=False)
    title = models.CharField(max_length=255, blank=True)


class ConcreteRelatedModel(models.Model):
    bases = FederatedRelation(ForProxyModelModel, for_concrete_model=False)


class ProxyRelatedModel(ConcreteRelatedModel):
    class Meta:
        proxy = True


class Guild(models.Model):
    """A target that is falsy, like Django's test of truthiness checks."""

    name = models.CharField(max_length=100)
    tags = FederatedRelation(TaggedItem, related_query_name="guild")

    def __bool__(self):
        return False


class Team(models.Model):
    """A target whose ``len()`` is 0."""

    name = models.CharField(max_length=100)
    tags = FederatedRelation(TaggedItem, related_query_name="team")

    def __len__(self):
        return 0


class Place(models.Model):
    """A relation declared on a parent model of multi-table inheritance."""

    name = models.CharField(max_length=100)
    tags = FederatedRelation(TaggedItem, related_query_name="place")


class Restaurant(Place):
    serves_pizza = models.BooleanField(default=False)
