"""One through row, one element: how a many-to-many manager indexes, slices, counts and iterates.

Rows are in the order targets were added. A row whose target is gone (kept by a veto or
``DO_NOTHING``, or a peer's deletion not delivered yet) is a ``MissingTarget`` wherever
the manager is read, so ``count()`` (one query, no request) agrees with everything else.
"""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from federated_relations.exceptions import PeerUnavailable
from federated_relations.m2m.managers import MissingTarget
from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject, remote
from federated_relations.signals import deleting
from federated_relations.test import assert_num_requests
from tests import fake_peers as fakes
from tests.m2m_app.models import Documentary, FUser, Movie, Owner, User

pytestmark = pytest.mark.django_db

fake_peers = fakes.fake_peers


@pytest.fixture
def shelf():
    """A source with a movie, a documentary and a movie, added in this order."""
    user = FUser.objects.create(name="u")
    videos = [Movie.objects.create(title="a"), Documentary.objects.create(title="b"),
              Movie.objects.create(title="c")]
    for video in reversed(videos):  # pks descend: the order of adding is not the pks'
        user.videos.add(video)
    return user, videos[::-1]


def test_indexing_and_slicing_follow_the_order_of_adding(shelf):
    user, (c, b, a) = shelf
    items = user.videos.all()
    with CaptureQueriesContext(connection) as ctx:
        assert items[0] == c
    assert len(ctx) == 2  # the first row, then its movie
    assert items[1] == b and items[2] == a
    assert list(items[:2]) == [c, b]
    assert list(items[1:]) == [b, a]
    assert list(items[::2]) == [c, a]
    assert list(items[1:3:2]) == [b]
    assert user.videos.first() == c
    assert user.videos.last() == a
    assert user.videos.order_by("-pk")[0] == a
    assert user.videos.filter(Model=Movie)[1] == a
    assert list(user.videos.filter(Model=Movie)[:1]) == [c]
    with pytest.raises(IndexError):
        items[3]


def test_slicing_a_prefetched_manager_makes_no_query(shelf):
    user, (c, b, a) = shelf
    (fetched,) = FUser.objects.filter(pk=user.pk).prefetch_related("videos")
    with CaptureQueriesContext(connection) as ctx:
        assert fetched.videos.all()[1] == b
        assert list(fetched.videos.all()[::2]) == [c, a]
        assert fetched.videos.first() == c
        assert fetched.videos.count() == 3
    assert len(ctx) == 0


@pytest.fixture
def vetoed():
    """An owner whose first movie was deleted while a receiver vetoed the cascade."""
    owner = Owner.objects.create(name="o")
    gone, kept = Movie.objects.create(title="gone"), Movie.objects.create(title="kept")
    owner.veto.add(gone)
    owner.veto.add(kept)
    gone_pk = gone.pk

    def veto(sender, **kwargs):
        return sender is Owner._meta.get_field("veto")

    deleting.connect(veto)
    try:
        gone.delete()
    finally:
        deleting.disconnect(veto)
    return owner, gone_pk, kept


def test_a_gone_local_target_is_one_element_everywhere(vetoed):
    owner, gone_pk, kept = vetoed
    with CaptureQueriesContext(connection) as ctx:
        assert owner.veto.count() == 2
    assert len(ctx) == 1
    assert owner.veto.exists()
    items = list(owner.veto.all())
    assert len(owner.veto.all()) == 2 and bool(owner.veto.all())
    missing = items[0]
    assert isinstance(missing, MissingTarget) and items[1] == kept
    assert missing.pk == gone_pk
    assert missing.content_type == GenericContentType.objects.get_for_model(Movie)
    assert missing.project == "local_project"
    assert not missing.is_available
    assert str(missing) == f"m2m_app.movie {gone_pk} on local_project (does not exist)"
    with pytest.raises(AttributeError, match="does not exist"):
        missing.title  # noqa: B018
    assert owner.veto.first() == missing == owner.veto.all()[0]
    assert list(owner.veto.all()[1:]) == [kept]
    (prefetched,) = Owner.objects.filter(pk=owner.pk).prefetch_related("veto")
    assert list(prefetched.veto.all()) == items
    assert prefetched.veto.count() == 2
    # A MissingTarget cannot be added; set() keeps its row, remove() deletes it.
    with pytest.raises(ValueError, match="no longer exists"):
        owner.veto.add(missing)
    owner.veto.set(list(owner.veto.all()))
    assert list(owner.veto.all()) == items
    owner.veto.remove(missing)
    assert list(owner.veto.all()) == [kept]
    assert owner.veto.count() == 1


def test_a_remote_target_deleted_on_its_peer_before_the_event_arrives(fake_peers):
    shop_b = fake_peers["shop_b"]
    for pk in (1, 2):
        shop_b.add("library", "book", pk, f"B{pk}", name=f"b{pk}")
    user = User.objects.create(name="u")
    user.preferred_videos.add(remote("shop_b", "library.Book", 1))
    user.preferred_videos.add(remote("shop_b", "library.Book", 2))
    del shop_b.objects["library", "book"]["1"]  # deleted there; no event delivered yet
    cache.clear()
    with assert_num_requests(0), CaptureQueriesContext(connection) as ctx:
        assert user.preferred_videos.count() == 2
        assert user.preferred_videos.exists()
    assert len(ctx) == 2
    with assert_num_requests(1):
        items = list(user.preferred_videos.all())
    assert isinstance(items[0], MissingTarget) and isinstance(items[1], RemoteObject)
    assert (items[0].project, items[0].pk, str(items[1])) == ("shop_b", 1, "B2")
    assert str(items[0]) == "library.book 1 on shop_b (does not exist)"
    assert user.preferred_videos.all()[0] == items[0]
    user.preferred_videos.remove(items[0])
    assert user.preferred_videos.count() == 1


def test_an_unreachable_peer_gives_placeholders_not_missing_targets(fake_peers):
    fake_peers["shop_b"].add("library", "book", 1, "B1", name="b1")
    user = User.objects.create(name="u")
    user.preferred_videos.add(remote("shop_b", "library.Book", 1))
    fake_peers["shop_b"].error = PeerUnavailable("refused")
    cache.clear()
    (item,) = user.preferred_videos.all()
    assert isinstance(item, RemoteObject) and not item.is_available
    assert user.preferred_videos.count() == 1


def test_a_deleted_source_still_gives_its_through_model():
    # gm2m's test of on_delete_src=DO_NOTHING cleans the rows up through the instance.
    user = User.objects.create(name="u")
    user.delete()
    assert user.preferred_videos.through is User._meta.get_field(
        "preferred_videos"
    ).remote_field.through
    with pytest.raises(ValueError, match="needs to have a value"):
        user.preferred_videos.all()
    with pytest.raises(ValueError, match="needs to have a value"):
        user.preferred_videos.add(Movie.objects.create())
