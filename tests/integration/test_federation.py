"""The client side against real peer servers: resolution, batching, caching and failures."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import requests

from federated_relations import RemoteModel, remote
from federated_relations.client import get_client
from federated_relations.exceptions import (
    PeerAuthError,
    PeerUnavailable,
    ProtocolError,
    RemoteObjectDoesNotExist,
)
from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from federated_relations.test import assert_num_requests
from tests.integration.conftest import KEYS, LOCAL
from tests.testapp.models import Animal, TaggedItem

pytestmark = pytest.mark.integration

BATCH = "POST objects/library_app/book/batch/"


def tag(project: str, label: str, pk: object, name: str = "t") -> TaggedItem:
    app_label, model = label.split(".")
    content_type = GenericContentType.objects.get_for_remote(project, app_label, model)
    return TaggedItem.objects.create(tag=name, content_type=content_type, object_id=str(pk))


def raise_mode(settings) -> None:
    settings.FEDERATION = {**settings.FEDERATION, "ON_REMOTE_ERROR": "raise"}


def test_lazy_resolution(federation, seeded):
    pk = seeded["books_a"][2]
    item = TaggedItem.objects.get(pk=tag("shop_a", "library_app.Book", pk).pk)
    with assert_num_requests(0):
        book = item.content_object
        assert isinstance(book, RemoteObject) and book.pk == int(pk)
    assert federation["shop_a"].served() == {}
    with assert_num_requests(1, peer="shop_a"):
        assert book.title == "A3" and book.price == "3.50" and str(book) == "A3"
    assert federation["shop_a"].served() == {BATCH: 1}


def test_batched_prefetch_costs_one_request_per_peer_then_none(federation, seeded):
    lion = Animal.objects.create(common_name="Lion", latin_name="Panthera leo")
    TaggedItem.objects.create(tag="local", content_object=lion)
    for pk in seeded["books_a"]:
        tag("shop_a", "library_app.Book", pk)
    for pk in seeded["books_b"]:
        tag("shop_b", "library_app.Book", pk)

    with assert_num_requests(2) as log:
        items = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
    assert {r.peer for r in log.requests} == {"shop_a", "shop_b"}
    assert federation["shop_a"].served() == {BATCH: 1}  # 250 pks in one request
    assert federation["shop_b"].served() == {BATCH: 1}
    assert items[0].content_object == lion
    titles = [str(item.content_object) for item in items[1:]]
    assert titles == [f"A{i}" for i in range(1, 251)] + [f"B{i}" for i in range(1, 6)]

    with assert_num_requests(0):  # warm: the Django cache answers
        again = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
        assert [str(item.content_object) for item in again[1:]] == titles
    assert federation["shop_a"].served() == {BATCH: 1}


def test_colliding_pks_and_mixed_local_remote(federation, seeded):
    lion = Animal.objects.create(common_name="Local lion", latin_name="Panthera leo")
    remote_pk = seeded["animal"]
    local_item = TaggedItem.objects.create(tag="local", content_object=lion)
    remote_item = tag("shop_a", "testapp.Animal", remote_pk, name="remote")
    same_pk_other_peer = tag("shop_b", "library_app.Book", remote_pk, name="b")
    items = {
        item.tag: item.content_object
        for item in TaggedItem.objects.prefetch_related("content_object")
    }
    assert items["local"] == lion and items["local"].common_name == "Local lion"
    assert isinstance(items["remote"], RemoteObject)
    assert items["remote"].common_name == "Remote lion"
    assert items["remote"] != items["b"]
    # The reverse relation only joins rows of this project's type.
    assert list(lion.tags.all()) == [local_item]
    assert list(Animal.objects.filter(tags__tag="remote")) == []
    assert remote_item.content_object == remote("shop_a", "testapp.Animal", remote_pk)
    assert same_pk_other_peer.content_object.project == "shop_b"


def test_only_exposed_fields_cross_the_wire(federation, seeded):
    book = remote("shop_a", "library_app.Book", seeded["books_a"][0])
    assert book.exposed_fields == {"title": "A1", "price": "1.50", "in_print": True}
    with pytest.raises(AttributeError):
        book.secret_note  # noqa: B018
    only_title = remote("shop_b", "library_app.Book", seeded["books_b"][0])
    assert only_title.exposed_fields == {"title": "B1"}


def test_string_and_uuid_pks(federation, seeded):
    shelf = remote("shop_a", "library_app.Shelf", seeded["shelf"])
    pamphlet = remote("shop_a", "library_app.Pamphlet", seeded["pamphlet"])
    assert shelf.label == "Top shelf" and shelf.pk == "s-1"
    assert pamphlet.title == "Leaflet" and pamphlet.pk == seeded["pamphlet"]
    item = TaggedItem.objects.create(tag="p", content_object=pamphlet)
    assert TaggedItem.objects.get(pk=item.pk).content_object == pamphlet


def test_remote_model_reads_pages_and_filters(federation, seeded):
    Book = RemoteModel("shop_a", "library_app.Book")
    everything = list(Book.all())
    assert [book.title for book in everything] == [f"A{i}" for i in range(1, 251)]
    assert [book.pk for book in Book.filter(title="A7")] == [int(seeded["books_a"][6])]
    assert Book.get(seeded["books_a"][9]).title == "A10"
    bulk = Book.in_bulk([seeded["books_a"][0], "999999"])
    assert list(bulk) == [int(seeded["books_a"][0])]
    with pytest.raises(RemoteObjectDoesNotExist):
        Book.get(999999)
    with pytest.raises(ProtocolError):  # not exposed: the peer says 400
        list(Book.filter(secret_note="classified"))


def test_missing_objects_and_cache_hits(federation, seeded):
    tag("shop_a", "library_app.Book", seeded["books_a"][0])
    tag("shop_a", "library_app.Book", 999999)
    with assert_num_requests(1):
        items = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
    assert str(items[0].content_object) == "A1" and items[1].content_object is None
    with assert_num_requests(0):
        list(TaggedItem.objects.prefetch_related("content_object"))
        assert remote("shop_a", "library_app.Book", seeded["books_a"][0]).title == "A1"
    assert federation["shop_a"].served() == {BATCH: 1}


def test_wrong_key_is_refused(federation, settings, seeded):
    peers = dict(settings.FEDERATION["PEERS"])
    peers["shop_a"] = {**peers["shop_a"], "KEY": "not-the-key"}
    settings.FEDERATION = {**settings.FEDERATION, "PEERS": peers}
    item = tag("shop_a", "library_app.Book", seeded["books_a"][0])
    placeholder = TaggedItem.objects.get(pk=item.pk).content_object
    assert not placeholder.is_available and "unavailable" in str(placeholder)
    raise_mode(settings)
    with pytest.raises(PeerAuthError):
        remote("shop_a", "library_app.Book", seeded["books_a"][0]).title  # noqa: B018


def test_unknown_project_is_refused(federation, settings, seeded):
    settings.FEDERATION = {
        **settings.FEDERATION, "PROJECT_NAME": "stranger", "ON_REMOTE_ERROR": "raise",
    }
    with pytest.raises(PeerAuthError):
        remote("shop_a", "library_app.Book", seeded["books_a"][0]).title  # noqa: B018


def _signed_headers(method: str, path: str, body: bytes, key: str, timestamp: int) -> dict:
    message = "\n".join(
        [method, path, "", str(timestamp), hashlib.sha256(body).hexdigest()]
    ).encode()
    return {
        "X-Federation-Project": LOCAL,
        "X-Federation-Timestamp": str(timestamp),
        "X-Federation-Signature": hmac.new(key.encode(), message, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }


def test_every_signature_failure_is_refused_without_leaking(federation, seeded):
    """The contract of docs/protocol.md, signed independently of signing.py."""
    server = federation["shop_a"]
    path = "/federation/objects/library_app/book/batch/"
    body = b'{"pks": ["1"]}'
    now = int(time.time())

    def post(headers: dict) -> requests.Response:
        return requests.post(server.base + path.lstrip("/"), data=body, headers=headers,
                             timeout=5)

    good = post(_signed_headers("POST", path, body, KEYS["shop_a"], now))
    assert good.status_code == 200 and good.json()["objects"][0]["fields"]["title"] == "A1"
    cases = {
        "unsigned": (post({"Content-Type": "application/json"}), 401),
        "bad_signature": (post(_signed_headers("POST", path, body, "wrong", now)), 403),
        "expired": (post(_signed_headers("POST", path, body, KEYS["shop_a"], now - 3600)), 403),
        "unknown_peer": (
            post({**_signed_headers("POST", path, body, KEYS["shop_a"], now),
                  "X-Federation-Project": "stranger"}),
            403,
        ),
    }
    for code, (response, status) in cases.items():
        assert response.status_code == status, code
        error = response.json()["error"]
        assert error["code"] == code
        assert "A1" not in response.text and "classified" not in response.text
    tampered = requests.post(
        server.base + path.lstrip("/"), data=b'{"pks": ["2"]}',
        headers=_signed_headers("POST", path, body, KEYS["shop_a"], now), timeout=5,
    )
    assert tampered.status_code == 403


def test_a_peer_that_is_down(federation, settings):
    item = tag("shop_down", "library_app.Book", 1)
    start = time.perf_counter()
    placeholder = TaggedItem.objects.prefetch_related("content_object").get(
        pk=item.pk
    ).content_object
    assert time.perf_counter() - start < 2
    assert not placeholder.is_available and "unavailable" in str(placeholder)
    raise_mode(settings)
    with pytest.raises(PeerUnavailable):
        remote("shop_down", "library_app.Book", 1).title  # noqa: B018


def test_a_slow_peer_times_out_and_others_still_answer(federation, settings, seeded):
    federation["shop_b"].control(delay=3.0)  # TIMEOUT is 1 s
    tag("shop_a", "library_app.Book", seeded["books_a"][0])
    tag("shop_b", "library_app.Book", seeded["books_b"][0])
    before = TaggedItem.objects.count()
    start = time.perf_counter()
    items = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
    elapsed = time.perf_counter() - start
    assert str(items[0].content_object) == "A1"
    assert not items[1].content_object.is_available
    assert "unavailable" in str(items[1].content_object)
    assert elapsed < 4.0, elapsed  # two attempts of 1 s at most; waiting would take 6 s
    assert TaggedItem.objects.count() == before
    raise_mode(settings)
    with pytest.raises(PeerUnavailable):
        remote("shop_b", "library_app.Book", seeded["books_b"][1]).title  # noqa: B018


@pytest.mark.parametrize(
    "garbage",
    [
        "this is not json",
        '{"objects": "nope", "missing": []}',
        '{"objects": [{"pk": 424242, "str": "x", "fields": {}}], "missing": []}',
        '{"objects": [], "missing": []}',
        "[" * 10000,
    ],
)
def test_garbage_answers_are_protocol_errors(federation, settings, seeded, garbage):
    federation["shop_a"].control(garbage=garbage)
    item = tag("shop_a", "library_app.Book", seeded["books_a"][0])
    before = list(TaggedItem.objects.values_list("pk", "object_id", "content_type_id"))
    obj = TaggedItem.objects.prefetch_related("content_object").get(pk=item.pk).content_object
    assert not obj.is_available
    assert list(TaggedItem.objects.values_list("pk", "object_id", "content_type_id")) == before
    raise_mode(settings)
    with pytest.raises(ProtocolError):
        remote("shop_a", "library_app.Book", seeded["books_a"][1]).title  # noqa: B018


def test_circuit_breaker_fails_fast(federation, settings):
    raise_mode(settings)
    threshold = get_client("shop_down").failure_threshold
    for pk in range(threshold):
        with pytest.raises(PeerUnavailable):
            remote("shop_down", "library_app.Book", pk + 1).title  # noqa: B018
    with assert_num_requests(0, peer="shop_down"):
        start = time.perf_counter()
        with pytest.raises(PeerUnavailable, match="circuit open"):
            remote("shop_down", "library_app.Book", 99).title  # noqa: B018
        assert time.perf_counter() - start < 0.5  # no timeout, no connection attempt


def test_federation_check_command(federation):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    with pytest.raises(CommandError, match="1 peer"):
        call_command("federation_check", stdout=out)
    text = out.getvalue()
    assert "shop_a: OK" in text and "library_app.book: title, price, in_print" in text
    assert "shop_b: OK" in text
    assert "shop_down: FAILED" in text and "unreachable" in text
    out = StringIO()
    call_command("federation_check", "shop_a", "shop_b", stdout=out)
    assert "FAILED" not in out.getvalue()


def test_mixed_local_and_remote_many_to_many_and_reverse_accessors(federation, seeded):
    from tests.m2m_app.models import Movie, Owner

    movie = Movie.objects.create(title="Local movie")
    book_a = remote("shop_a", "library_app.Book", seeded["books_a"][0])
    book_b = remote("shop_b", "library_app.Book", seeded["books_b"][0])
    owner = Owner.objects.create(name="owner")
    owner.cascade.add(movie, book_a, book_b)
    with assert_num_requests(2):  # one batch per peer; the movie from the ORM
        (loaded,) = Owner.objects.prefetch_related("cascade")
        targets = list(loaded.cascade.all())
    assert sorted(str(target) for target in targets) == ["A1", "B1", "Local movie"]
    assert movie in targets and book_a in targets and book_b in targets
    # The reverse accessor of a local field on a remote object: a local query only.
    with assert_num_requests(0):
        assert list(book_a.cascade_owners.all()) == [owner]
        assert list(remote("shop_b", "library_app.Book", 424242).cascade_owners.all()) == []


def test_large_lookups_are_paged_by_the_peers_cap(federation, seeded):
    cap = get_client("shop_a").max_batch()  # one discovery request
    wanted = list(seeded["books_a"]) + [str(900000 + i) for i in range(2 * cap + 10 - 250)]
    pages = -(-len(wanted) // cap)
    federation["shop_a"].control()
    with assert_num_requests(pages, peer="shop_a"):
        found = RemoteModel("shop_a", "library_app.Book").in_bulk(wanted)
    assert len(found) == 250
    assert federation["shop_a"].served() == {BATCH: pages}
