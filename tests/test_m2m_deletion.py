"""Deletion handlers of ``FederatedManyToManyField``, through Django's ``Collector``."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from federated_relations import deletion
from federated_relations.m2m.managers import MissingTarget
from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from federated_relations.signals import deleting
from tests.m2m_app.models import Group, Member, Movie, Owner, User

pytestmark = pytest.mark.django_db


def through(name, model=Owner):
    return model._meta.get_field(name).remote_field.through


@pytest.fixture
def received():
    calls = []
    answers = {"veto": False}

    def receiver(sender, del_objs, rel_objs, **kwargs):
        calls.append((sender, list(del_objs), list(rel_objs)))
        return answers["veto"]

    deleting.connect(receiver)
    yield calls, answers
    deleting.disconnect(receiver)


@pytest.fixture
def owner_and_movies():
    owner = Owner.objects.create(name="o")
    movies = [Movie.objects.create(title=str(i)) for i in range(2)]
    for name in ("cascade", "do_nothing", "signal", "veto", "notify", "src_signal"):
        getattr(owner, name).add(*movies)
    return owner, movies


def test_handlers_are_gm2ms():
    from django.db.models import deletion as django_deletion

    assert deletion.CASCADE is django_deletion.CASCADE
    assert deletion.DO_NOTHING is django_deletion.DO_NOTHING


def test_target_deletion_applies_each_fields_handler(owner_and_movies, received):
    owner, movies = owner_and_movies
    calls, _answers = received
    pk = movies[0].pk
    movies[0].delete()
    assert through("cascade").objects.count() == 1
    assert through("do_nothing").objects.count() == 2  # kept
    assert through("signal").objects.count() == 1
    assert through("veto").objects.count() == 1  # not vetoed
    assert through("notify").objects.count() == 2  # kept, signalled
    senders = {call[0] for call in calls}
    fields = {f: Owner._meta.get_field(f) for f in ("signal", "veto", "notify")}
    assert senders == set(fields.values())
    for _sender, del_objs, rel_objs in calls:
        assert del_objs == [movies[0]]
        assert [row.owner_id for row in rel_objs] == [owner.pk]
        assert {row.object_id for row in rel_objs} == {str(pk)}


def test_veto_keeps_the_rows(owner_and_movies, received):
    _owner, movies = owner_and_movies
    _calls, answers = received
    answers["veto"] = True
    movies[0].delete()
    assert through("veto").objects.count() == 2
    assert through("signal").objects.count() == 1


def test_queryset_delete_honours_the_handlers(owner_and_movies, received):
    owner, _movies = owner_and_movies
    calls, _answers = received
    Movie.objects.all().delete()
    assert through("cascade").objects.count() == 0
    assert through("do_nothing").objects.count() == 2
    assert through("notify").objects.count() == 2
    assert len(calls) == 3
    assert owner.cascade.count() == 0
    # The targets are gone and their rows stay: each row gives a MissingTarget.
    gone = list(owner.notify.all())
    assert owner.notify.count() == len(gone) == 2
    assert all(isinstance(obj, MissingTarget) for obj in gone)


def test_source_deletion_cascades_and_signals(owner_and_movies, received):
    owner, _movies = owner_and_movies
    calls, _answers = received
    owner.delete()
    for name in ("cascade", "signal", "veto", "notify", "src_signal"):
        assert through(name).objects.count() == 0, name
    # DO_NOTHING also on the source side: rows are kept (the field has no constraint).
    assert through("do_nothing").objects.count() == 2
    src = [call for call in calls if call[0] is Owner._meta.get_field("src_signal")]
    assert len(src) == 1
    _sender, del_objs, rel_objs = src[0]
    assert owner in del_objs
    assert len(rel_objs) == 2


@pytest.mark.parametrize("veto", [False, True])
def test_source_deletion_with_cascade_signal_veto(received, veto):
    calls, answers = received
    answers["veto"] = veto
    owner, other = Owner.objects.create(name="gone"), Owner.objects.create(name="kept")
    movies = [Movie.objects.create(title=str(i)) for i in range(2)]
    owner.src_veto.add(*movies)
    other.src_veto.add(movies[0])
    owner_pk = owner.pk
    owner.delete()
    field = Owner._meta.get_field("src_veto")
    src = [call for call in calls if call[0] is field]
    assert len(src) == 1
    _sender, del_objs, rel_objs = src[0]
    assert owner in del_objs
    assert sorted((row.owner_id, row.object_id) for row in rel_objs) == sorted(
        (owner_pk, str(movie.pk)) for movie in movies
    )
    assert not Owner.objects.filter(pk=owner_pk).exists()
    rows = through("src_veto").objects.filter(owner_id=owner_pk)
    # A truthy answer keeps the rows of the deleted source; otherwise they go with it.
    assert rows.count() == (2 if veto else 0)
    assert list(other.src_veto.all()) == [movies[0]]
    rows.delete()


def test_cascade_from_another_model_reaches_the_through_rows():
    group = Group.objects.create()
    member = Member.objects.create(group=group)
    movie = Movie.objects.create()
    member.likes.add(movie)
    group.delete()
    assert through("likes", Member).objects.count() == 0
    assert Movie.objects.filter(pk=movie.pk).exists()


def test_cascade_on_target_is_a_single_delete_per_field():
    user = User.objects.create()
    movies = [Movie.objects.create() for _ in range(5)]
    user.preferred_videos.add(*movies)
    with CaptureQueriesContext(connection) as ctx:
        Movie.objects.filter(pk__in=[m.pk for m in movies]).delete()
    deletes = [q["sql"] for q in ctx if "user_preferred_videos" in q["sql"]]
    assert len(deletes) == 1 and deletes[0].startswith("DELETE")
    assert user.preferred_videos.count() == 0


def test_the_rows_of_a_remote_object_with_the_same_pk_survive_a_local_deletion():
    user = User.objects.create()
    movie = Movie.objects.create()
    remote_type = GenericContentType.objects.get_for_remote("shop_b", "m2m_app", "movie")
    user.preferred_videos.add(movie, RemoteObject(remote_type, movie.pk))
    pk = movie.pk
    movie.delete()
    rows = list(
        through("preferred_videos", User).objects.values_list("content_type", "object_id")
    )
    assert rows == [(remote_type.pk, str(pk))]


def test_handle_remote_deletion(received):
    calls, answers = received
    remote_type = GenericContentType.objects.get_for_remote("shop_b", "m2m_app", "movie")
    owner = Owner.objects.create()
    gone, kept = RemoteObject(remote_type, 7), RemoteObject(remote_type, 8)
    local = Movie.objects.create()
    for name in ("cascade", "do_nothing", "signal", "veto", "notify"):
        getattr(owner, name).add(gone, kept, local)
    user = User.objects.create()
    user.preferred_videos.add(gone)
    deletion.handle_remote_deletion(remote_type, ["7"])
    assert through("cascade").objects.count() == 2
    assert through("do_nothing").objects.count() == 3
    assert through("signal").objects.count() == 2
    assert through("veto").objects.count() == 2
    assert through("notify").objects.count() == 3
    assert user.preferred_videos.count() == 0
    assert {call[0].name for call in calls} == {"signal", "veto", "notify"}
    for _sender, del_objs, rel_objs in calls:
        assert del_objs == [gone]
        assert all(isinstance(obj, RemoteObject) for obj in del_objs)
        assert [(r.owner_id, r.object_id) for r in rel_objs] == [(owner.pk, "7")]
    calls.clear()
    answers["veto"] = True
    deletion.handle_remote_deletion(remote_type, [8])
    assert through("veto").objects.count() == 2  # vetoed
    assert through("signal").objects.count() == 1
    assert through("cascade").objects.count() == 1
    # Local rows with the same pk are never touched; nothing to do is fine.
    assert owner.cascade.filter(Model=Movie).count() == 1
    deletion.handle_remote_deletion(remote_type, [])
    deletion.handle_remote_deletion(remote_type, ["999"])
