"""Filtering sources by their targets: ``filter(field=obj)``, ``field__in``, ``exclude()``.

Targets are (type id, object id) pairs in the through table; these tests check that a
filter compares both columns of one join, for local instances of every kind of pk, for
proxies, for remote objects (without asking their peer) and mixes of them, and that it
composes with ``exclude()``, ``Q``, ``Exists``, subqueries and a second database.
"""

import pickle

import pytest
from django.db import connection, connections
from django.db.models import Exists, OuterRef, Q
from django.test.utils import CaptureQueriesContext

from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject, remote
from federated_relations.test import assert_num_requests
from tests import fake_peers as fakes
from tests.m2m_app.models import (
    Concert,
    Group,
    Member,
    Movie,
    MovieProxy,
    Opera,
    Shop,
    Song,
    User,
)
from tests.testapp.models import SlugBook
from through_models.models import Playlist, PlaylistEntry, Shelf, ShelfEntry

pytestmark = pytest.mark.django_db

fake_peers = fakes.fake_peers


@pytest.fixture(autouse=True)
def warm_type_cache():
    GenericContentType.objects.clear_cache()
    GenericContentType.objects.get_for_models(Movie, Opera, Concert, Song, SlugBook)
    GenericContentType.objects.get_for_model(MovieProxy, for_concrete_model=False)
    yield
    GenericContentType.objects.clear_cache()


@pytest.fixture
def users(fake_peers):
    """ann: movie 1, a slug book and shop_b's book 5; bob: movie 2; cid: nothing."""
    for peer in ("shop_b", "shop_c"):
        for pk in (1, 5, 8):
            fake_peers[peer].add("library", "book", pk, f"Book {pk}", name=f"Book {pk}")
    movie1 = Movie.objects.create(title="one")
    movie2 = Movie.objects.create(title="two")
    book = SlugBook.objects.create(slug="o'brien")
    ann = User.objects.create(name="ann")
    bob = User.objects.create(name="bob")
    cid = User.objects.create(name="cid")
    ann.preferred_videos.add(movie1, book, remote("shop_b", "library.Book", 5))
    bob.preferred_videos.add(movie2)
    return {"movie1": movie1, "movie2": movie2, "book": book, "ann": ann, "bob": bob, "cid": cid}


def names(queryset):
    return sorted(user.name for user in queryset)


def test_filter_by_a_local_target_is_one_query_with_one_join(users):
    queryset = User.objects.filter(preferred_videos=users["movie1"])
    with CaptureQueriesContext(connection) as ctx:
        assert names(queryset) == ["ann"]
    assert len(ctx.captured_queries) == 1
    sql = ctx.captured_queries[0]["sql"]
    assert sql.count("JOIN") == 1
    through = User._meta.get_field("preferred_videos").remote_field.through._meta.db_table
    assert f'"{through}"."content_type_id"' in sql and f'"{through}"."object_id"' in sql


def test_filter_by_targets_of_other_pk_types(users):
    song = Song.objects.create(title="uuid")
    shop = Shop.objects.create()
    Shop.objects.create()
    shop.stock.add(song)
    assert list(Shop.objects.filter(stock=song)) == [shop]
    assert names(User.objects.filter(preferred_videos=users["book"])) == ["ann"]
    # Same pk text, other model: the type column keeps them apart.
    assert not User.objects.filter(preferred_videos=Opera.objects.create(pk=users["movie1"].pk))


def test_filter_by_a_remote_object_asks_no_peer_and_never_matches_a_local_pk(
    users, fake_peers
):
    # shop_b's book with the pk of bob's movie 2: same object id, other type.
    twin_pk = users["movie2"].pk
    fake_peers["shop_b"].add("library", "book", twin_pk, "Twin", name="Twin")
    users["cid"].preferred_videos.add(remote("shop_b", "library.Book", twin_pk))
    with assert_num_requests(0), CaptureQueriesContext(connection) as ctx:
        found = names(User.objects.filter(preferred_videos=remote("shop_b", "library.Book", 5)))
        mixed = names(
            User.objects.filter(
                preferred_videos__in=[users["movie2"], remote("shop_b", "library.Book", 5)]
            )
        )
        twin = names(
            User.objects.filter(preferred_videos=remote("shop_b", "library.Book", twin_pk))
        )
    assert found == ["ann"]
    assert mixed == ["ann", "bob"]
    assert twin == ["cid"]
    assert len(ctx.captured_queries) == 3
    assert names(User.objects.filter(preferred_videos=users["movie2"])) == ["bob"]
    # Another peer's book 5 is another object.
    assert not User.objects.filter(preferred_videos=remote("shop_c", "library.Book", 5))


def test_in_groups_object_ids_by_type(users):
    wanted = [users["movie1"], users["movie2"], users["book"]]
    with CaptureQueriesContext(connection) as ctx:
        assert names(User.objects.filter(preferred_videos__in=wanted).distinct()) == [
            "ann", "bob",
        ]
    sql = ctx.captured_queries[0]["sql"]
    assert sql.count("JOIN") == 1
    assert sql.count("content_type_id") == 2  # one condition per type, not per target
    assert not User.objects.filter(preferred_videos__in=[])
    assert not User.objects.filter(preferred_videos__in=[remote("shop_c", "library.Book", 1)])


def test_exclude_keeps_sources_without_targets(users):
    assert names(User.objects.exclude(preferred_videos=users["movie1"])) == ["bob", "cid"]
    remote_book = remote("shop_b", "library.Book", 5)
    with assert_num_requests(0):
        assert names(User.objects.exclude(preferred_videos__in=[remote_book])) == [
            "bob", "cid",
        ]
    assert names(User.objects.exclude(preferred_videos__in=[])) == ["ann", "bob", "cid"]
    assert names(User.objects.filter(~Q(preferred_videos=users["movie2"]))) == ["ann", "cid"]


def test_filters_combine_with_other_filters_and_q_objects(users):
    movie1 = users["movie1"]
    assert names(User.objects.filter(preferred_videos=movie1, name="ann")) == ["ann"]
    assert not User.objects.filter(preferred_videos=movie1, name="bob")
    either = Q(preferred_videos=users["movie2"]) | Q(name="cid")
    assert names(User.objects.filter(either).distinct()) == ["bob", "cid"]
    # Two targets of one source: two filter() calls, two joins (Django's m2m rule).
    both = User.objects.filter(preferred_videos=movie1).filter(preferred_videos=users["book"])
    assert names(both) == ["ann"]
    assert str(both.query).count("JOIN") == 2
    # Field lookups through the join still work, next to the target comparison.
    assert names(User.objects.filter(preferred_videos__object_id=str(movie1.pk))) == ["ann"]
    assert names(User.objects.filter(preferred_videos__isnull=True)) == ["cid"]
    assert names(User.objects.filter(preferred_videos=None)) == ["cid"]


def test_subqueries_querysets_and_outer_refs(users):
    assert names(
        User.objects.filter(preferred_videos__in=Movie.objects.filter(title="two"))
    ) == ["bob"]
    assert names(
        User.objects.filter(preferred_videos__in=Movie.objects.filter(title="one").values("pk"))
    ) == ["ann"]
    assert names(User.objects.exclude(preferred_videos__in=Movie.objects.all())) == ["cid"]
    liked = Movie.objects.filter(Exists(User.objects.filter(preferred_videos=OuterRef("pk"))))
    Movie.objects.create(title="unloved")
    assert sorted(movie.title for movie in liked) == ["one", "two"]
    slug_books = SlugBook.objects.annotate(
        liked=Exists(User.objects.filter(preferred_videos=OuterRef("pk"), name="ann"))
    )
    SlugBook.objects.create(slug="nobody")
    assert {book.slug: book.liked for book in slug_books} == {"o'brien": True, "nobody": False}


def test_querysets_of_foreign_keys_and_pickled_queries(users):
    group = Group.objects.create(name="club")
    Member.objects.create(group=group)
    users["bob"].preferred_videos.add(group)
    by_member = User.objects.filter(preferred_videos__in=Member.objects.values("group"))
    assert names(by_member) == ["bob"]
    with pytest.raises(ValueError, match="one primary or foreign key"):
        list(User.objects.filter(preferred_videos__in=Movie.objects.values("pk", "title")))
    queryset = User.objects.filter(
        preferred_videos__in=[users["movie1"], remote("shop_b", "library.Book", 5)]
    )
    restored = User.objects.all()
    restored.query = pickle.loads(pickle.dumps(queryset.query))
    with assert_num_requests(0):
        assert names(restored.distinct()) == ["ann"]


def test_uuid_targets_in_subqueries_compare_as_stored_text():
    songs = [Song.objects.create(title=str(i)) for i in range(3)]
    shop = Shop.objects.create()
    shop.stock.add(songs[0])
    assert list(Shop.objects.filter(stock__in=Song.objects.filter(title="0"))) == [shop]
    assert not Shop.objects.filter(stock__in=Song.objects.exclude(title="0"))
    in_stock = Song.objects.filter(Exists(Shop.objects.filter(stock=OuterRef("pk"))))
    assert list(in_stock) == [songs[0]]


def test_proxies_are_targets_of_their_own_with_for_concrete_model_false():
    movie = Movie.objects.create(title="proxy")
    proxy = MovieProxy.objects.get(pk=movie.pk)
    shop = Shop.objects.create()
    shop.exhibits.add(proxy)
    assert list(Shop.objects.filter(exhibits=proxy)) == [shop]
    assert not Shop.objects.filter(exhibits=movie)
    assert list(Shop.objects.filter(exhibits__in=MovieProxy.objects.all())) == [shop]
    assert not Shop.objects.filter(exhibits__in=Movie.objects.all())
    # With for_concrete_model=True (the default), a proxy is its concrete model.
    user = User.objects.create(name="dan")
    user.preferred_videos.add(movie)
    assert list(User.objects.filter(preferred_videos=proxy)) == [user]


def test_custom_through_models(fake_peers):
    book = remote("shop_b", "library.Book", 3)
    movie = Movie.objects.create(title="shelved")
    fiction = Shelf.objects.create(name="fiction")
    films = Shelf.objects.create(name="films")
    ShelfEntry.objects.create(shelf=fiction, item=book, reason="gift")
    ShelfEntry.objects.create(shelf=films, item=movie, reason="owned")
    with assert_num_requests(0):
        assert list(Shelf.objects.filter(items=book)) == [fiction]
        assert list(Shelf.objects.filter(items__in=[book, movie]).order_by("name")) == [
            fiction, films,
        ]
    assert list(Shelf.objects.exclude(items=book)) == [films]
    # The through model's own relation is another join: both conditions hold for a shelf.
    assert not Shelf.objects.filter(items=book, entries__reason="owned")
    assert list(Shelf.objects.filter(items=book, entries__reason="gift")) == [fiction]

    # gm2m-style through model: ContentType ids, local targets only.
    playlist = Playlist.objects.create(name="mix")
    Playlist.objects.create(name="empty")
    PlaylistEntry.objects.create(playlist=playlist, track=movie)
    assert list(Playlist.objects.filter(tracks=movie)) == [playlist]
    assert list(Playlist.objects.filter(tracks__in=[movie, book])) == [playlist]
    assert not Playlist.objects.filter(tracks=book)


def test_bare_pks_and_unsaved_instances_are_refused(users):
    with pytest.raises(ValueError, match="model instances or remote objects"):
        User.objects.filter(preferred_videos=users["movie1"].pk)
    with pytest.raises(ValueError, match="must be saved"):
        User.objects.filter(preferred_videos__in=[Movie(title="unsaved")])
    with pytest.raises(TypeError, match="iterable"):
        User.objects.filter(preferred_videos__in=users["movie1"])


@pytest.mark.django_db(databases=["default", "other"])
def test_type_ids_are_those_of_the_database_queried(fake_peers):
    fake_peers["shop_b"].add("library", "book", 8, "Book 8", name="Book 8")
    # Give Movie another type id on "other", so that a default-database id would be wrong.
    GenericContentType.objects.using("other").filter(app_label="m2m_app", model="movie").delete()
    GenericContentType.objects.clear_cache()
    movie = Movie.objects.using("other").create(title="other")
    user = User.objects.using("other").create(name="eve")
    other_book_type = GenericContentType.objects.db_manager("other").get_for_remote(
        "shop_b", "library", "book"
    )
    user.preferred_videos.add(movie, RemoteObject(other_book_type, 8))
    default_id = GenericContentType.objects.get_for_model(Movie).pk
    other_id = GenericContentType.objects.db_manager("other").get_for_model(Movie).pk
    assert default_id != other_id
    queryset = User.objects.using("other").filter(preferred_videos=movie)
    with CaptureQueriesContext(connections["other"]) as ctx:
        assert list(queryset) == [user]
    assert len(ctx.captured_queries) == 1
    # A remote object made on the default database is looked up on "other" by its key.
    book = remote("shop_b", "library.Book", 8)
    assert book.content_type._state.db == "default"
    with assert_num_requests(0):
        assert list(User.objects.using("other").filter(preferred_videos=book)) == [user]
        assert not User.objects.filter(preferred_videos=book)
    # A type that "other" has never seen matches nothing there (and creates no type).
    unknown = remote("shop_b", "library.Pamphlet", 8)
    assert not User.objects.using("other").filter(preferred_videos=unknown)
    assert not GenericContentType.objects.using("other").filter(
        project="shop_b", model="pamphlet"
    ).exists()
