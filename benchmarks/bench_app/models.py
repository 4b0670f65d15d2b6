"""Sources and targets of the many-to-many benchmark."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from gm2m import GM2MField

from federated_relations.fields import FederatedForeignKey, FederatedManyToManyField
from federated_relations.models import GenericContentType


class Target(models.Model):
    title = models.CharField(max_length=100, default="")

    class Meta:
        abstract = True


def _targets(prefix):
    return [
        type(f"{prefix}Target{i}", (Target,), {"__module__": __name__}) for i in range(1, 6)
    ]


G_TARGETS = _targets("G")
F_TARGETS = _targets("F")
globals().update({model.__name__: model for model in G_TARGETS + F_TARGETS})


class GSource(models.Model):
    name = models.CharField(max_length=100, default="")
    videos = GM2MField(*G_TARGETS)

    def __str__(self):
        return self.name


class FSource(models.Model):
    name = models.CharField(max_length=100, default="")
    videos = FederatedManyToManyField(*F_TARGETS)

    def __str__(self):
        return self.name


# The FederatedForeignKey prefetch benchmark: one GenericForeignKey and one
# FederatedForeignKey reference model over the same three targets.


class PrefetchTarget(models.Model):
    title = models.CharField(max_length=100, default="")

    class Meta:
        abstract = True


PREFETCH_TARGETS = [
    type(f"PrefetchTarget{i}", (PrefetchTarget,), {"__module__": __name__}) for i in range(1, 4)
]
globals().update({model.__name__: model for model in PREFETCH_TARGETS})


class GReference(models.Model):
    content_type = models.ForeignKey(ContentType, models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    content_object = GenericForeignKey()

    def __str__(self):
        return f"{self.content_type_id}:{self.object_id}"


class FReference(models.Model):
    content_type = models.ForeignKey(GenericContentType, models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    content_object = FederatedForeignKey()

    def __str__(self):
        return f"{self.content_type_id}:{self.object_id}"
