"""References that could never resolve are refused before they are stored.

The peer is a real HTTP server on 127.0.0.1 answering its discovery document, reached by
the process's shared client, so "at most one discovery per peer per process" is counted
on the wire.
"""

from __future__ import annotations

import logging

import pytest
from django.test.utils import override_settings

from federated_relations.client import reset_clients
from federated_relations.exceptions import InvalidTarget
from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteModel, RemoteObject, remote
from federated_relations.test import assert_num_requests
from tests.library_app.transport import ScriptedHTTPServer, free_port
from tests.m2m_app.models import Movie, User

pytestmark = pytest.mark.django_db

DISCOVERY = {
    "protocol": 1,
    "project": "shop_b",
    "max_batch": 100,
    "types": [
        {"app_label": "catalog", "model": "book", "fields": ["title"]},
        {"app_label": "catalog", "model": "author", "fields": ["name"]},
    ],
}


def federation(url: str, **extra) -> dict:
    return {
        "PROJECT_NAME": "local_project",
        "PEERS": {
            "shop_b": {"URL": url, "KEY": "key-b"},
            "shop_c": {"URL": "http://127.0.0.1:9/c/", "KEY": "key-c"},
        },
        **extra,
    }


@pytest.fixture(autouse=True)
def fresh_clients():
    reset_clients()
    GenericContentType.objects.clear_cache()
    yield
    reset_clients()
    GenericContentType.objects.clear_cache()


@pytest.fixture
def peer():
    """shop_b answers its discovery (once: a second request would get a 500)."""
    with ScriptedHTTPServer((200, DISCOVERY, 0)) as server, override_settings(
        FEDERATION=federation(server.url)
    ):
        yield server


def stored(user: User) -> list[tuple[str, str, str, str]]:
    through = User.preferred_videos.through
    return sorted(
        (row.content_type.project, row.content_type.app_label, row.content_type.model,
         row.object_id)
        for row in through.objects.using(user._state.db).filter(user=user)
    )


# -- unknown peers ---------------------------------------------------------------------------


def test_remote_refuses_an_unknown_peer_naming_the_known_ones(peer):
    with pytest.raises(InvalidTarget) as info:
        remote("warehouse", "catalog.Book", 5)
    message = str(info.value)
    assert message == (
        "No peer named 'warehouse': a reference to catalog.Book on 'warehouse' could never be "
        "resolved. Known peers (FEDERATION['PEERS']): 'shop_b', 'shop_c'; this server is "
        "'local_project' and 'shared' names the tables every server has."
    )
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidTarget, match="Did you mean 'shop_b'"):
        RemoteModel("shop_bb", "catalog.Book").get(1)
    assert peer.hits == 0  # settings only: no request


def test_add_refuses_a_reference_to_an_unknown_peer_and_stores_nothing(peer):
    user = User.objects.create(name="ann")
    gone = GenericContentType.objects.get_for_remote("shop_gone", "catalog", "book")
    with assert_num_requests(0), pytest.raises(InvalidTarget, match="No peer named 'shop_gone'"):
        user.preferred_videos.add(RemoteObject(gone, 1))
    assert stored(user) == []


def test_rows_naming_a_since_removed_peer_still_read_as_placeholders(peer):
    user = User.objects.create(name="ann")
    gone = GenericContentType.objects.get_for_remote("shop_gone", "catalog", "book")
    User.preferred_videos.through.objects.create(user=user, content_type=gone, object_id="7")
    (target,) = user.preferred_videos.all()
    assert isinstance(target, RemoteObject) and target.project == "shop_gone"
    assert target.is_available is False and "unavailable" in str(target)
    # remove() and clear() of such a row need no check.
    user.preferred_videos.remove(target)
    assert stored(user) == []


def test_set_keeps_a_stored_reference_and_checks_only_what_it_adds(peer):
    user = User.objects.create(name="ann")
    gone = GenericContentType.objects.get_for_remote("shop_gone", "catalog", "book")
    User.preferred_videos.through.objects.create(user=user, content_type=gone, object_id="7")
    (target,) = user.preferred_videos.all()
    movie = Movie.objects.create(title="m")
    user.preferred_videos.set([target, movie])  # what all() gave back, plus a movie
    assert stored(user) == [
        ("local_project", "m2m_app", "movie", str(movie.pk)),
        ("shop_gone", "catalog", "book", "7"),
    ]
    with pytest.raises(InvalidTarget):
        user.preferred_videos.set([target, remote("shop_b", "auth.User", 1)])
    assert len(stored(user)) == 2


# -- types the peer does not expose -------------------------------------------------------------


def test_exposed_types_are_accepted_with_one_discovery_per_peer_per_process(peer):
    ann, bob = User.objects.create(name="ann"), User.objects.create(name="bob")
    movie = Movie.objects.create(title="m")
    with assert_num_requests(1, peer="shop_b"):
        ann.preferred_videos.add(movie, remote("shop_b", "catalog.Book", 1))
        ann.preferred_videos.add(remote("shop_b", "catalog.Author", 2))
        bob.preferred_videos.set([remote("shop_b", "catalog.Book", 3)])
    assert peer.hits == 1
    assert stored(ann) == [
        ("local_project", "m2m_app", "movie", str(movie.pk)),
        ("shop_b", "catalog", "author", "2"),
        ("shop_b", "catalog", "book", "1"),
    ]
    assert stored(bob) == [("shop_b", "catalog", "book", "3")]


def test_add_refuses_a_type_the_peer_does_not_expose(peer):
    user = User.objects.create(name="ann")
    with pytest.raises(InvalidTarget) as info:
        user.preferred_videos.add(
            remote("shop_b", "catalog.Book", 1), remote("shop_b", "auth.User", 1)
        )
    assert str(info.value) == (
        "Peer 'shop_b' does not expose auth.user: a reference to it could never be "
        "resolved. It exposes: catalog.author, catalog.book (the peer's "
        "FEDERATION['EXPOSE'])."
    )
    assert stored(user) == []  # nothing of the call is stored, not even the valid book


def test_a_typo_in_a_remote_model_is_refused_with_a_suggestion(peer):
    user = User.objects.create(name="ann")
    user.preferred_videos.add(remote("shop_b", "catalog.Book", 1))
    with pytest.raises(InvalidTarget, match=r"does not expose catalog\.bok.*Did you mean "
                                            r"'catalog\.book'\?"):
        user.preferred_videos.set([remote("shop_b", "catalog.Bok", 1)])
    assert stored(user) == [("shop_b", "catalog", "book", "1")]  # set() changed nothing


# -- local types --------------------------------------------------------------------------------


@pytest.mark.parametrize("project", ["local_project", "shared"])
def test_a_local_type_whose_model_is_not_installed_is_refused(peer, project):
    user = User.objects.create(name="ann")
    typo = GenericContentType.objects.get_for_remote(project, "m2m_app", "moive")
    with pytest.raises(InvalidTarget, match=r"No model m2m_app\.moive is installed on .*"
                                            r"Did you mean 'm2m_app\.movie'\?"):
        user.preferred_videos.add(RemoteObject(typo, 1))
    assert stored(user) == []
    assert peer.hits == 0


# -- the peer cannot be asked -------------------------------------------------------------------


def test_an_unreachable_peer_stores_the_reference_and_logs_a_warning(caplog):
    url = f"http://127.0.0.1:{free_port()}/federation/"
    with override_settings(FEDERATION=federation(url)):
        user = User.objects.create(name="ann")
        with caplog.at_level(logging.WARNING, logger="federated_relations"):
            user.preferred_videos.add(remote("shop_b", "catalog.Whatever", 1))
        assert stored(user) == [("shop_b", "catalog", "whatever", "1")]
    (record,) = [r for r in caplog.records if r.name == "federated_relations"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith(
        "Could not check that peer 'shop_b' exposes catalog.whatever, so the reference is "
        "stored unchecked: Peer 'shop_b' did not answer GET "
    )
    assert "connection refused" in message


def test_a_peer_refusing_our_signature_stores_the_reference_and_logs_a_warning(caplog):
    refused = {"error": {"code": "bad_signature", "message": "The signature does not match."}}
    with ScriptedHTTPServer((403, refused, 0)) as server, override_settings(
        FEDERATION=federation(server.url)
    ):
        user = User.objects.create(name="ann")
        with caplog.at_level(logging.WARNING, logger="federated_relations"):
            user.preferred_videos.add(remote("shop_b", "catalog.Book", 1))
        assert stored(user) == [("shop_b", "catalog", "book", "1")]
    assert "KEYs of both servers must match" in caplog.text
