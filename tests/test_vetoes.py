"""The README's deletion recipes: a veto keeps relation rows, ProtectedError blocks a deletion."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import NestedObjects
from django.db.models import ProtectedError

from federated_relations.signals import deleting
from tests.m2m_app.models import Movie, Owner

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_and_movie():
    owner, movie = Owner.objects.create(name="o"), Movie.objects.create(title="m")
    owner.veto.add(movie)
    owner.signal.add(movie)
    return owner, movie


def test_a_truthy_veto_keeps_the_rows_but_not_the_target(owner_and_movie):
    owner, movie = owner_and_movie
    veto_field = Owner._meta.get_field("veto")

    def keep(sender, **kwargs):
        return sender is veto_field  # veto only this field's cascade

    deleting.connect(keep)
    try:
        movie.delete()
    finally:
        deleting.disconnect(keep)
    assert not Movie.objects.exists()  # the deletion itself is not stopped
    assert Owner.veto.through.objects.count() == 1  # the vetoed rows stay
    assert Owner.signal.through.objects.count() == 0  # CASCADE_SIGNAL: deleted


def test_protected_error_from_a_receiver_blocks_the_deletion(owner_and_movie):
    owner, movie = owner_and_movie

    def protect(sender, del_objs, rel_objs, **kwargs):
        if sender.name == "signal" and rel_objs.exists():
            raise ProtectedError("Movies on an owner's list cannot be deleted.", set(del_objs))

    deleting.connect(protect)
    try:
        with pytest.raises(ProtectedError):
            movie.delete()
        assert Movie.objects.filter(pk=movie.pk).exists()
        assert Owner.signal.through.objects.count() == 1
        assert Owner.veto.through.objects.count() == 1
        # The admin's delete confirmation collects like this: it lists the movie as protected.
        collector = NestedObjects(using="default")
        collector.collect([movie])
        assert collector.protected == {movie}
    finally:
        deleting.disconnect(protect)
