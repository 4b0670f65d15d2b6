"""Models of the ``FederatedManyToManyField`` tests, after django-gm2m's README and tests."""

import datetime
import uuid

from django.db import models
from gm2m import GM2MField
from gm2m import deletion as gm2m_deletion

from federated_relations import deletion
from federated_relations.fields import FederatedManyToManyField


class Video(models.Model):
    title = models.CharField(max_length=100, default="")

    def __str__(self):
        return self.title


class Movie(Video):
    pass


class Documentary(Video):
    pass


class Opera(Video):
    pass


class Concert(Video):
    pass


class Theater(Video):
    pass


class MovieProxy(Movie):
    class Meta:
        proxy = True


class Song(models.Model):
    """A target with a UUID primary key (gm2m #8)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=100, default="")


class Holiday(models.Model):
    """A target with a date primary key (gm2m #8)."""

    day = models.DateField(primary_key=True)
    name = models.CharField(max_length=100, default="")


class Slot(models.Model):
    """A target with a time primary key (gm2m #8)."""

    at = models.TimeField(primary_key=True, default=datetime.time(9, 30))


class VisibleManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(hidden=False).defer("payload")


class Picky(models.Model):
    """A target whose default manager hides rows and defers a field (gm2m #60/#69)."""

    hidden = models.BooleanField(default=False)
    payload = models.TextField(default="")

    objects = VisibleManager()
    all_objects = models.Manager()  # noqa: DJ012 - ruff reads VisibleManager() as a field

    class Meta:
        base_manager_name = "all_objects"


class User(models.Model):
    name = models.CharField(max_length=100, default="")
    # No declared model: reverse relations appear as instances are added.
    preferred_videos = FederatedManyToManyField()
    # Declared models (a class and a string): reverse relations exist from the start.
    preferred_shows = FederatedManyToManyField(
        "Opera", Concert, related_name="fans", related_query_name="fan", blank=True
    )

    def __str__(self):
        return self.name


class Owner(models.Model):
    """Sources whose fields use each deletion handler."""

    name = models.CharField(max_length=100, default="")
    cascade = FederatedManyToManyField(Movie, related_name="cascade_owners")
    do_nothing = FederatedManyToManyField(
        Movie, on_delete=deletion.DO_NOTHING, related_name="do_nothing_owners",
        db_constraint=False,
    )
    signal = FederatedManyToManyField(
        Movie, on_delete_tgt=deletion.CASCADE_SIGNAL, related_name="signal_owners"
    )
    veto = FederatedManyToManyField(
        Movie, on_delete_tgt=deletion.CASCADE_SIGNAL_VETO, related_name="veto_owners"
    )
    notify = FederatedManyToManyField(
        Movie, on_delete_tgt=deletion.DO_NOTHING_SIGNAL, related_name="notify_owners"
    )
    src_signal = FederatedManyToManyField(
        Movie, on_delete_src=deletion.CASCADE_SIGNAL, related_name="src_signal_owners"
    )
    # Without a constraint: a veto keeps rows pointing at a deleted source.
    src_veto = FederatedManyToManyField(
        Movie, on_delete_src=deletion.CASCADE_SIGNAL_VETO, related_name="src_veto_owners",
        db_constraint=False,
    )


class Group(models.Model):
    """A model whose deletion cascades to sources (deletion through other models)."""

    name = models.CharField(max_length=100, default="")


class Member(models.Model):
    group = models.ForeignKey(Group, models.CASCADE)
    likes = FederatedManyToManyField(Movie, related_name="likers", pk_maxlength=None)


class Shop(models.Model):
    """Options of the through table."""

    stock = FederatedManyToManyField(
        Song, Holiday, Slot, Picky, db_table="m2m_shop_stock", pk_maxlength=40
    )
    # Proxies are targets of their own, not their concrete model.
    exhibits = FederatedManyToManyField(
        MovieProxy, for_concrete_model=False, related_name="exhibited_in"
    )


# --- parity with django-gm2m: the same models, one with each field ---------------------


class GUser(models.Model):
    name = models.CharField(max_length=100, default="")
    videos = GM2MField(Movie, "Documentary")


class FUser(models.Model):
    name = models.CharField(max_length=100, default="")
    videos = FederatedManyToManyField(Movie, "Documentary")


class Switching(models.Model):
    """A model moving from a ``GM2MField`` to a ``FederatedManyToManyField``."""

    old = GM2MField()
    new = FederatedManyToManyField(related_name="switching_new")


# gm2m's own test of on_delete_src=DO_NOTHING (its "Links" model), with each field; rows
# stay when targets are deleted too (count and iteration of rows whose target is gone).


class GLinks(models.Model):
    related_objects = GM2MField(
        Movie, on_delete_src=gm2m_deletion.DO_NOTHING, on_delete_tgt=gm2m_deletion.DO_NOTHING
    )


class FLinks(models.Model):
    related_objects = FederatedManyToManyField(
        Movie, on_delete_src=deletion.DO_NOTHING, on_delete_tgt=deletion.DO_NOTHING
    )
