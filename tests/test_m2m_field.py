"""``FederatedManyToManyField``: declaration, through table, managers, reverse side, prefetch."""

import datetime
import uuid

import django
import pytest
from django.db import connection, models
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext

from federated_relations.fields import FederatedManyToManyField, FederatedManyToManyReverse
from federated_relations.models import GenericContentType
from federated_relations.prefetch import FederatedPrefetch
from federated_relations.remote import remote
from tests.m2m_app.models import (
    Concert,
    Documentary,
    Holiday,
    Member,
    Movie,
    Opera,
    Picky,
    Shop,
    Slot,
    Song,
    Theater,
    User,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def warm_type_cache():
    GenericContentType.objects.clear_cache()
    GenericContentType.objects.get_for_models(
        User, Movie, Documentary, Opera, Concert, Theater, Song, Holiday, Slot, Picky
    )
    yield
    GenericContentType.objects.clear_cache()


def sorted_targets(objs):
    return sorted((type(obj).__name__, obj.pk) for obj in objs)


def remote_movie(pk):
    return remote("shop_b", "m2m_app.Movie", pk)


def through_rows(field_owner, name):
    through = field_owner._meta.get_field(name).remote_field.through
    return set(through.objects.values_list("content_type_id", "object_id"))


# --- declaration and through table ------------------------------------------------------


def test_field_is_a_many_to_many_field_with_an_auto_created_through_model():
    field = User._meta.get_field("preferred_videos")
    assert field in User._meta.local_many_to_many
    assert field.many_to_many and field not in User._meta.concrete_fields
    through = field.remote_field.through
    assert through._meta.auto_created is User
    assert through._meta.db_table == "m2m_app_user_preferred_videos"
    assert through.__name__ == "User_preferred_videos"
    assert [f.name for f in through._meta.local_fields] == [
        "id", "user", "content_type", "object_id"
    ]
    assert through._meta.get_field("user").remote_field.model is User
    assert through._meta.get_field("content_type").remote_field.model is GenericContentType
    assert through._meta.get_field("object_id").max_length == 16
    assert through._meta.unique_together == (("user", "content_type", "object_id"),)


def test_through_table_options():
    shop = Shop._meta.get_field("stock").remote_field.through
    assert shop._meta.db_table == "m2m_shop_stock"
    assert shop._meta.get_field("object_id").max_length == 40
    member = Member._meta.get_field("likes").remote_field.through
    assert isinstance(member._meta.get_field("object_id"), models.TextField)


def test_db_constraint_false_creates_no_foreign_keys():
    from tests.m2m_app.models import Owner

    through = Owner._meta.get_field("do_nothing").remote_field.through
    assert not through._meta.get_field("owner").db_constraint
    assert not through._meta.get_field("content_type").db_constraint
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, through._meta.db_table)
    assert not any(c["foreign_key"] for c in constraints.values())
    through = Owner._meta.get_field("cascade").remote_field.through
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, through._meta.db_table)
    assert sum(bool(c["foreign_key"]) for c in constraints.values()) == 2


def test_deconstruct_round_trips():
    for model, name in [(User, "preferred_shows"), (Shop, "stock"), (Member, "likes")]:
        field = model._meta.get_field(name)
        _name, path, args, kwargs = field.deconstruct()
        assert path == "federated_relations.fields.FederatedManyToManyField"
        clone = FederatedManyToManyField(*args, **kwargs)
        assert clone.deconstruct()[1:] == (path, args, kwargs)
    _n, _p, args, kwargs = User._meta.get_field("preferred_shows").deconstruct()
    assert args == ["m2m_app.opera", "m2m_app.concert"]
    if django.VERSION >= (6, 1):  # its autodetector reads "to" of many-to-many fields
        assert kwargs.pop("to") == "federated_relations.genericcontenttype"
    assert kwargs == {
        "blank": True, "related_name": "fans", "related_query_name": "fan"
    }


def test_declared_models_have_reverse_relations_from_class_creation():
    concert = Concert.objects.create(title="c")
    assert list(concert.fans.all()) == []
    assert isinstance(Opera._meta.get_field("fan"), FederatedManyToManyReverse)
    assert User.preferred_shows.get_related_models() == [Opera, Concert]


def test_reverse_relation_is_created_when_an_instance_is_first_added():
    user = User.objects.create(name="u")
    theater = Theater.objects.create(title="t")
    field = User._meta.get_field("preferred_videos")
    field.reverse_fields.pop(Theater, None)
    if "user_set" in Theater.__dict__:
        delattr(Theater, "user_set")
    assert not hasattr(theater, "user_set")
    user.preferred_videos.add(theater)
    assert list(theater.user_set.all()) == [user]
    assert Theater in User.preferred_videos.get_related_models(include_auto=True)
    assert Theater not in User.preferred_videos.get_related_models()


def test_add_relation_after_the_fact():
    assert not hasattr(Holiday, "fans")
    User.preferred_shows.add_relation(Holiday)
    holiday = Holiday.objects.create(day=datetime.date(2025, 1, 1))
    assert list(holiday.fans.all()) == []
    user = User.objects.create(name="u")
    user.preferred_shows.add(holiday)
    assert list(holiday.fans.all()) == [user]
    assert list(Holiday.objects.filter(fan__name="u")) == [holiday]
    # Relations added later are not part of the field's definition (migrations).
    assert "m2m_app.holiday" not in User._meta.get_field("preferred_shows").deconstruct()[2]


def test_a_pk_longer_than_pk_maxlength_is_refused():
    user = User.objects.create()
    with pytest.raises(ValueError, match="pk_maxlength"):
        user.preferred_videos.add(Song.objects.create())
    assert user.preferred_videos.count() == 0


# --- source manager --------------------------------------------------------------------


def test_add_iterate_count_exists_mixed_targets():
    user = User.objects.create(name="u")
    movie = Movie.objects.create(title="m")
    documentary = Documentary.objects.create(title="d")
    assert not user.preferred_videos.exists()
    user.preferred_videos.add(movie, documentary)
    user.preferred_videos.add(movie)  # twice: stored once
    assert list(user.preferred_videos.all()) == [movie, documentary]
    assert list(user.preferred_videos.all()) == list(user.preferred_videos.iterator())
    assert user.preferred_videos.count() == 2
    assert user.preferred_videos.exists()


def test_add_costs_one_query_and_reads_costs_one_per_type():
    user = User.objects.create(name="u")
    movies = [Movie.objects.create(title=str(i)) for i in range(3)]
    documentary = Documentary.objects.create(title="d")
    user.preferred_videos.add(movies[0])  # creates the reverse relations once
    user.preferred_videos.add(documentary)
    with CaptureQueriesContext(connection) as ctx:
        user.preferred_videos.add(*movies, documentary)
    # The insert, after locking the source row where rows can be locked (PostgreSQL).
    assert len(ctx) == 1 + connection.features.has_select_for_update
    with CaptureQueriesContext(connection) as ctx:
        assert len(list(user.preferred_videos.all())) == 4
    assert len(ctx) == 3  # rows, movies, documentaries


def test_remove_clear_set():
    user = User.objects.create(name="u")
    m1, m2 = Movie.objects.create(title="1"), Movie.objects.create(title="2")
    doc = Documentary.objects.create(title="d")
    user.preferred_videos.add(m1, m2, doc)
    user.preferred_videos.remove(m2)
    assert set(user.preferred_videos.all()) == {m1, doc}
    user.preferred_videos.set([doc, m2])
    assert set(user.preferred_videos.all()) == {doc, m2}
    user.preferred_videos.set([m1], clear=True)
    assert list(user.preferred_videos.all()) == [m1]
    user.preferred_videos.clear()
    assert list(user.preferred_videos.all()) == []
    user.preferred_videos = [m2, doc]  # gm2m's assignment
    assert set(user.preferred_videos.all()) == {m2, doc}


def test_set_keeps_existing_rows():
    user = User.objects.create(name="u")
    m1, m2 = Movie.objects.create(), Movie.objects.create()
    user.preferred_videos.add(m1)
    through = User.preferred_videos.through
    row_id = through.objects.get().pk
    user.preferred_videos.set([m1, m2])
    assert through.objects.filter(pk=row_id).exists()
    assert through.objects.count() == 2


def test_filter_by_target_model():
    user = User.objects.create(name="u")
    movie, doc = Movie.objects.create(title="m"), Documentary.objects.create(title="d")
    user.preferred_videos.add(movie, doc)
    assert list(user.preferred_videos.filter(Model=Movie)) == [movie]
    assert list(user.preferred_videos.filter(Model="m2m_app.Documentary")) == [doc]
    assert set(user.preferred_videos.filter(Model__in=[Movie, Documentary])) == {movie, doc}
    assert list(user.preferred_videos.exclude(Model=Movie)) == [doc]
    assert user.preferred_videos.filter(Model=Movie).count() == 1


def test_remote_and_local_targets_mixed():
    user = User.objects.create(name="u")
    movie = Movie.objects.create(title="m")
    far = remote_movie(movie.pk)  # same pk, another server
    user.preferred_videos.add(movie, far)
    user.preferred_videos.add(remote_movie(movie.pk))
    remote_type = GenericContentType.objects.get_for_remote("shop_b", "m2m_app", "movie")
    assert through_rows(User, "preferred_videos") == {
        (GenericContentType.objects.get_for_model(Movie).pk, str(movie.pk)),
        (remote_type.pk, str(movie.pk)),
    }
    assert user.preferred_videos.count() == 2
    # The remote row never joins the local movie.
    other = User.objects.create(name="other")
    other.preferred_videos.add(remote_movie(movie.pk))
    assert list(Movie.objects.filter(user__name="other")) == []
    assert list(Movie.objects.filter(user__name="u")) == [movie]
    assert list(movie.user_set.all()) == [user]
    assert list(far.user_set.all()) == [user, other]
    user.preferred_videos.remove(far)
    assert user.preferred_videos.count() == 1
    assert list(far.user_set.all()) == [other]


def test_unsaved_instances_are_refused():
    with pytest.raises(ValueError, match="needs to have a value"):
        User().preferred_videos.all()
    user = User.objects.create()
    with pytest.raises(ValueError, match="is None"):
        user.preferred_videos.add(Movie())


def test_uuid_date_and_time_primary_keys():
    shop = Shop.objects.create()
    song = Song.objects.create(id=uuid.UUID("12345678-1234-5678-1234-567812345678"))
    holiday = Holiday.objects.create(day=datetime.date(2024, 12, 25))
    slot = Slot.objects.create(at=datetime.time(14, 5))
    shop.stock.add(song)
    shop.stock.add(holiday)
    shop.stock.add(slot)
    assert list(shop.stock.all()) == [song, holiday, slot]  # the order of the add() calls
    assert through_rows(Shop, "stock") >= {
        (GenericContentType.objects.get_for_model(Song).pk,
         "12345678-1234-5678-1234-567812345678"),
        (GenericContentType.objects.get_for_model(Holiday).pk, "2024-12-25"),
        (GenericContentType.objects.get_for_model(Slot).pk, "14:05:00"),
    }
    assert list(Song.objects.filter(shop__isnull=False)) == [song]
    assert list(Holiday.objects.filter(shop=shop)) == [holiday]
    assert list(Slot.objects.filter(shop__id=shop.pk)) == [slot]
    assert list(song.shop_set.all()) == [shop]
    shops = list(Shop.objects.prefetch_related("stock"))
    assert list(shops[0].stock.all()) == [song, holiday, slot]
    holidays = list(Holiday.objects.prefetch_related("shop_set"))
    assert list(holidays[0].shop_set.all()) == [shop]
    shop.stock.remove(holiday)
    assert list(shop.stock.all()) == [song, slot]


def test_targets_with_a_filtering_and_deferring_default_manager():
    shop = Shop.objects.create()
    shown, hidden = Picky.objects.create(payload="a"), Picky.all_objects.create(hidden=True)
    shop.stock.add(shown, hidden)
    assert [p.pk for p in shop.stock.all()] == [shown.pk, hidden.pk]
    shops = list(Shop.objects.prefetch_related("stock"))
    assert [p.payload for p in shops[0].stock.all()] == ["a", ""]
    assert list(Picky.objects.filter(shop=shop)) == [shown]


# --- reverse side ----------------------------------------------------------------------


def test_reverse_manager_add_remove_clear_set_and_filters():
    opera = Opera.objects.create(title="o")
    ann, bob = User.objects.create(name="ann"), User.objects.create(name="bob")
    opera.fans.add(ann, bob, ann)
    assert list(opera.fans.order_by("name")) == [ann, bob]
    assert list(ann.preferred_shows.all()) == [opera]
    assert list(opera.fans.filter(name="bob")) == [bob]
    opera.fans.remove(ann)
    assert list(opera.fans.all()) == [bob]
    opera.fans.set([ann])
    assert list(opera.fans.all()) == [ann]
    opera.fans.clear()
    assert list(opera.fans.all()) == []
    with pytest.raises(TypeError):
        opera.fans.add(opera)


def test_reverse_query_name_and_related_name():
    opera = Opera.objects.create(title="o")
    other = Opera.objects.create(title="p")
    ann = User.objects.create(name="ann")
    ann.preferred_shows.add(opera)
    assert list(Opera.objects.filter(fan__name="ann")) == [opera]
    assert list(Opera.objects.filter(fan=ann)) == [opera]
    assert list(Opera.objects.exclude(fan__name="ann")) == [other]
    assert list(Opera.objects.filter(fan__name="nobody")) == []
    assert not hasattr(opera, "user_set")


def test_source_side_filters_on_the_through_rows():
    movie = Movie.objects.create(title="m")
    ann, _bob = User.objects.create(name="ann"), User.objects.create(name="bob")
    ann.preferred_videos.add(movie)
    movie_type = GenericContentType.objects.get_for_model(Movie).pk
    assert list(
        User.objects.filter(
            preferred_videos__content_type=movie_type, preferred_videos__object_id=movie.pk
        )
    ) == [ann]


# --- prefetching -----------------------------------------------------------------------


def make_library(n_users=4):
    movies = [Movie.objects.create(title=f"m{i}") for i in range(3)]
    docs = [Documentary.objects.create(title=f"d{i}") for i in range(2)]
    users = []
    for i in range(n_users):
        user = User.objects.create(name=f"u{i}")
        for target in (movies[i % 3], docs[i % 2], movies[(i + 1) % 3]):
            user.preferred_videos.add(target)  # one call each: rows in this order
        users.append(user)
    return users, movies, docs


def test_prefetch_costs_one_query_for_rows_and_one_per_type():
    users, movies, docs = make_library()
    with CaptureQueriesContext(connection) as ctx:
        fetched = list(User.objects.order_by("pk").prefetch_related("preferred_videos"))
        results = [list(user.preferred_videos.all()) for user in fetched]
    assert len(ctx) == 4  # users, rows, movies, documentaries
    assert results == [list(user.preferred_videos.all()) for user in users]
    assert results[0] == [movies[0], docs[0], movies[1]]
    with CaptureQueriesContext(connection) as ctx:
        assert fetched[1].preferred_videos.count() == 3
    assert len(ctx) == 0


def test_prefetch_loads_uncached_types_in_one_query():
    make_library()
    GenericContentType.objects.clear_cache()
    with CaptureQueriesContext(connection) as ctx:
        list(User.objects.prefetch_related("preferred_videos"))
    assert len(ctx) == 5  # users, rows, types, movies, documentaries


def test_prefetch_with_custom_querysets():
    make_library()
    with CaptureQueriesContext(connection) as ctx:
        fetched = list(
            User.objects.order_by("pk").prefetch_related(
                Prefetch("preferred_videos", queryset=Movie.objects.only("id"))
            )
        )
        videos = list(fetched[0].preferred_videos.all())
    assert len(ctx) == 4
    assert "title" in videos[0].get_deferred_fields()
    assert "title" not in videos[1].get_deferred_fields()  # a documentary
    assert [v.title for v in videos] == ["m0", "d0", "m1"]
    fetched = list(
        User.objects.order_by("pk").prefetch_related(
            FederatedPrefetch(
                "preferred_videos",
                [Movie.objects.filter(title="m0"), Documentary.objects.all()],
            )
        )
    )
    assert [v.title for v in fetched[0].preferred_videos.all()] == ["m0", "d0"]
    with pytest.raises(ValueError, match="Only one queryset"):
        list(
            User.objects.prefetch_related(
                FederatedPrefetch("preferred_videos", [Movie.objects.all(), Movie.objects.all()])
            )
        )


def test_prefetch_to_attr():
    users, movies, docs = make_library(2)
    fetched = list(
        User.objects.order_by("pk").prefetch_related(
            Prefetch("preferred_videos", to_attr="videos")
        )
    )
    assert fetched[1].videos == [movies[1], docs[1], movies[2]]


def test_reverse_prefetch_costs_one_query():
    users, movies, _docs = make_library()
    with CaptureQueriesContext(connection) as ctx:
        fetched = list(Movie.objects.order_by("pk").prefetch_related("user_set"))
        fans = [sorted(u.name for u in movie.user_set.all()) for movie in fetched]
    assert len(ctx) == 2
    assert fans == [sorted(u.name for u in m.user_set.all()) for m in movies]
    assert fans[0] == ["u0", "u2", "u3"]
    fetched = list(
        Movie.objects.order_by("pk").prefetch_related(
            Prefetch("user_set", queryset=User.objects.filter(name="u0"))
        )
    )
    assert [[u.name for u in m.user_set.all()] for m in fetched] == [["u0"], ["u0"], []]


def test_prefetch_after_changes_is_invalidated():
    users, movies, docs = make_library(1)
    user = User.objects.prefetch_related("preferred_videos").get()
    user.preferred_videos.remove(movies[0])
    assert list(user.preferred_videos.all()) == [docs[0], movies[1]]
    user = User.objects.prefetch_related("preferred_videos").get()
    user.preferred_videos.add(movies[2])
    assert movies[2] in list(user.preferred_videos.all())


def test_nested_prefetch_through_a_target():
    users, movies, docs = make_library(2)
    fetched = list(
        User.objects.order_by("pk").prefetch_related("preferred_videos__user_set")
    )
    first_movie = fetched[0].preferred_videos.all()[0]
    assert first_movie == movies[0]
    assert sorted(u.name for u in first_movie.user_set.all()) == ["u0"]


# --- remote targets through the resolver (in-process fake peers) ------------------------

from federated_relations.test import assert_num_requests  # noqa: E402
from tests import fake_peers as fakes  # noqa: E402

fake_peers = fakes.fake_peers


def test_prefetch_mixed_local_and_remote_targets_batches_each_peer(fake_peers):
    shop_b, shop_c = fake_peers["shop_b"], fake_peers["shop_c"]
    for pk in (1, 2, 3):
        shop_b.add("library", "book", pk, f"B{pk}", name=f"b{pk}")
    shop_c.add("library", "book", 9, "C9", name="c9")
    movie = Movie.objects.create(title="m")
    users = [User.objects.create(name=str(i)) for i in range(3)]
    for i, user in enumerate(users):
        user.preferred_videos.add(
            movie, remote("shop_b", "library.Book", i + 1), remote("shop_c", "library.Book", 9)
        )
    with assert_num_requests(2), CaptureQueriesContext(connection) as ctx:
        fetched = list(User.objects.order_by("pk").prefetch_related("preferred_videos"))
        names = [[str(t) for t in user.preferred_videos.all()] for user in fetched]
    assert len(ctx) == 3  # users, rows, movies
    assert names == [["m", "B1", "C9"], ["m", "B2", "C9"], ["m", "B3", "C9"]]
    with assert_num_requests(0):
        assert fetched[2].preferred_videos.all()[1].name == "b3"
    # Iterating one source: one batch per remote type as well.
    with assert_num_requests(0):  # the resolver's cache answers
        assert [str(t) for t in users[0].preferred_videos.all()] == ["m", "B1", "C9"]


@pytest.mark.django_db(databases=["default", "other"])
def test_another_database():
    user = User.objects.using("other").create(name="o")
    movie = Movie.objects.using("other").create(title="m")
    user.preferred_videos.add(movie)
    assert list(user.preferred_videos.all()) == [movie]
    assert User.preferred_videos.through.objects.using("other").count() == 1
    assert User.preferred_videos.through.objects.count() == 0
    fetched = User.objects.using("other").prefetch_related("preferred_videos").get()
    assert list(fetched.preferred_videos.all()) == [movie]
    assert list(movie.user_set.all()) == [user]
    movie_type = GenericContentType.objects.db_manager("other").get_for_model(Movie)
    row = User.preferred_videos.through.objects.using("other").get()
    assert row.content_type_id == movie_type.pk


def test_for_concrete_model_false_keeps_proxies_apart():
    from tests.m2m_app.models import MovieProxy

    shop = Shop.objects.create()
    movie = Movie.objects.create(title="m")
    proxy = MovieProxy.objects.get(pk=movie.pk)
    shop.exhibits.add(proxy)
    row = Shop.exhibits.through.objects.get()
    assert row.content_type == GenericContentType.objects.get_for_model(
        MovieProxy, for_concrete_model=False
    )
    assert [type(obj) for obj in shop.exhibits.all()] == [MovieProxy]
    assert list(proxy.exhibited_in.all()) == [shop]
    assert list(MovieProxy.objects.filter(exhibited_in=shop)) == [proxy]
    # With for_concrete_model=True (the default) a proxy is stored as its concrete model.
    user = User.objects.create()
    user.preferred_videos.add(proxy)
    assert [type(obj) for obj in user.preferred_videos.all()] == [Movie]
    proxy.delete()
    assert Shop.exhibits.through.objects.count() == 0
    assert user.preferred_videos.count() == 0


def test_reverse_manager_with_another_manager_of_the_source():
    opera = Opera.objects.create()
    ann = User.objects.create(name="ann")
    opera.fans.add(ann)
    assert list(opera.fans(manager="objects").all()) == [ann]
    user = User.objects.create()
    assert list(user.preferred_videos(manager="objects").all()) == []
