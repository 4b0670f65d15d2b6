"""Custom ``through=`` models, including one written for django-gm2m."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from tests.m2m_app.models import Documentary, Movie
from through_models.models import Playlist, PlaylistEntry, Shelf, ShelfEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, scope="module")
def reverse_relations():
    # Rows written with the through model's manager relate no model by themselves.
    for model in (Movie, Documentary):
        Shelf.items.add_relation(model)
        Playlist.tracks.add_relation(model)


def test_reading_targets_creates_missing_reverse_relations():
    from tests.m2m_app.models import Concert

    shelf = Shelf.objects.create(name="s")
    concert = Concert.objects.create()
    ShelfEntry.objects.create(shelf=shelf, item=concert)
    assert Concert not in Shelf.items.get_related_models(include_auto=True)
    assert list(shelf.items.all()) == [concert]
    assert list(concert.shelves.all()) == [shelf]


def test_through_fields_are_found_automatically():
    shelf_link = Shelf._meta.get_field("items").link
    assert (shelf_link.source, shelf_link.target, shelf_link.content_type,
            shelf_link.object_id) == ("shelf", "item", "content_type", "object_id")
    playlist_link = Playlist._meta.get_field("tracks").link
    assert (playlist_link.source, playlist_link.target, playlist_link.content_type,
            playlist_link.object_id) == ("playlist", "track", "track_ct", "track_fk")
    assert playlist_link.type_model is ContentType
    assert shelf_link.type_model is GenericContentType


def test_custom_through_rows_are_read_as_targets():
    shelf = Shelf.objects.create(name="s")
    movie, doc = Movie.objects.create(title="m"), Documentary.objects.create(title="d")
    remote_type = GenericContentType.objects.get_for_remote("shop_b", "m2m_app", "movie")
    ShelfEntry.objects.create(shelf=shelf, item=movie, reason="liked")
    ShelfEntry.objects.create(shelf=shelf, item=doc)
    ShelfEntry.objects.create(shelf=shelf, item=RemoteObject(remote_type, movie.pk))
    assert shelf.items.count() == 3
    assert list(shelf.items.filter(Model=Movie)) == [movie]
    assert list(shelf.items.filter(reason="liked")) == [movie]
    assert list(movie.shelves.all()) == [shelf]
    assert list(Movie.objects.filter(shelves__name="s")) == [movie]
    assert list(Movie.objects.filter(shelves__entries__reason="liked")) == [movie]
    assert list(RemoteObject(remote_type, movie.pk).shelves.all()) == [shelf]


def test_add_and_remove_raise_with_a_custom_through_model():
    shelf = Shelf.objects.create(name="s")
    movie = Movie.objects.create()
    for method, args in (("add", (movie,)), ("remove", (movie,)), ("set", ([movie],)),
                         ("clear", ())):
        with pytest.raises(AttributeError, match="ShelfEntry's Manager"):
            getattr(shelf.items, method)(*args)
    with pytest.raises(AttributeError, match="intermediary model"):
        movie.shelves.add(shelf)


def test_prefetch_with_a_custom_through_model():
    shelves = [Shelf.objects.create(name=str(i)) for i in range(3)]
    movie, doc = Movie.objects.create(title="m"), Documentary.objects.create(title="d")
    for shelf in shelves:
        ShelfEntry.objects.create(shelf=shelf, item=movie)
        ShelfEntry.objects.create(shelf=shelf, item=doc)
    GenericContentType.objects.get_for_models(Movie, Documentary)
    with CaptureQueriesContext(connection) as ctx:
        fetched = list(Shelf.objects.prefetch_related("items"))
        assert [list(s.items.all()) for s in fetched] == [[movie, doc]] * 3
    assert len(ctx) == 4
    with CaptureQueriesContext(connection) as ctx:
        fetched = list(Movie.objects.prefetch_related("shelves"))
        assert {s.name for s in fetched[0].shelves.all()} == {"0", "1", "2"}
    assert len(ctx) == 2


def test_target_deletion_cascades_to_custom_through_rows():
    shelf = Shelf.objects.create(name="s")
    movie, doc = Movie.objects.create(), Documentary.objects.create()
    ShelfEntry.objects.create(shelf=shelf, item=movie)
    ShelfEntry.objects.create(shelf=shelf, item=doc)
    movie.delete()
    assert list(shelf.items.all()) == [doc]
    shelf.delete()
    assert ShelfEntry.objects.count() == 0


def test_a_through_model_written_for_gm2m_keeps_working():
    playlist = Playlist.objects.create(name="p")
    movie, doc = Movie.objects.create(title="m"), Documentary.objects.create(title="d")
    other = Movie.objects.create(title="o")
    PlaylistEntry.objects.create(playlist=playlist, track=movie, position=2)
    PlaylistEntry.objects.create(playlist=playlist, track=doc, position=1)
    assert list(playlist.tracks.all()) == [movie, doc]
    assert list(playlist.tracks.order_by("position")) == [doc, movie]
    assert list(playlist.tracks.filter(Model=Documentary)) == [doc]
    assert list(movie.playlist_set.all()) == [playlist]
    assert list(Movie.objects.filter(playlist__name="p")) == [movie]
    assert list(Movie.objects.exclude(playlist__name="p")) == [other]
    fetched = list(Playlist.objects.prefetch_related("tracks"))
    assert list(fetched[0].tracks.all()) == [movie, doc]
    fetched = list(Documentary.objects.prefetch_related("playlist_set"))
    assert list(fetched[0].playlist_set.all()) == [playlist]
    doc.delete()
    assert list(PlaylistEntry.objects.values_list("track_fk", flat=True)) == [str(movie.pk)]
