"""Sources and targets of the many-to-many benchmark."""

from django.db import models
from gm2m import GM2MField

from federated_relations.fields import FederatedManyToManyField


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
