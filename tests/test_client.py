"""Tests of ``federated_relations.client`` against the real views, scripted answers and sockets."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
from django.test import override_settings

from federated_relations import views
from federated_relations.client import (
    FederationClient,
    NotExposed,
    get_client,
    reset_clients,
)
from federated_relations.exceptions import (
    FederationError,
    PeerAuthError,
    PeerUnavailable,
    ProtocolError,
)
from federated_relations.protocol import DEFAULT_MAX_BATCH
from federated_relations.signals import peer_request
from tests.library_app.models import Author, Book
from tests.library_app.transport import (
    InProcessAdapter,
    LiveWSGIServer,
    ScriptedAdapter,
    ScriptedHTTPServer,
    free_port,
    make_response,
    session_with,
)

KEY = "secret-ab"
CLIENT = {
    "PROJECT_NAME": "shop_a",
    "PEERS": {"shop_b": {"URL": "http://shop-b.test/federation/", "KEY": KEY}},
    "TIMEOUT": 1.0,
}
SERVER = {
    "PROJECT_NAME": "shop_b",
    "PEERS": {"shop_a": {"URL": "http://shop-a.test/federation/", "KEY": KEY}},
    "EXPOSE": {
        "library_app.Book": ["title", "price", "in_print", "author"],
        "library_app.Author": ["name"],
    },
}
DISCOVERY = {"protocol": 1, "project": "shop_b", "max_batch": 500, "types": []}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def client_settings():
    reset_clients()
    with override_settings(FEDERATION=CLIENT):
        yield
    reset_clients()


@pytest.fixture
def requests_sent():
    """Record the ``peer_request`` signals: (peer, method, path, status)."""
    sent = []

    def receiver(sender, peer, method, path, status, **kwargs):
        sent.append((peer, method, path, status))

    peer_request.connect(receiver)
    yield sent
    peer_request.disconnect(receiver)


@pytest.fixture
def adapter():
    return InProcessAdapter(SERVER)


@pytest.fixture
def client(adapter):
    return FederationClient("shop_b", session=session_with(adapter))


def scripted(*answers):
    adapter = ScriptedAdapter(*answers)
    return FederationClient("shop_b", session=session_with(adapter)), adapter


@pytest.fixture
def books(db):
    author = Author.objects.create(name="Frank Herbert")
    return [Book.objects.create(title=f"Book {n}", price=Decimal(n), author=author,
                                secret_note="secret") for n in range(12)]


# -- against the real views, in-process ------------------------------------------------------


@pytest.mark.django_db
def test_discover_once_per_client(client, adapter, requests_sent):
    discovery = client.discover()
    assert discovery["project"] == "shop_b" and discovery["max_batch"] == views.MAX_BATCH
    assert {t["model"] for t in discovery["types"]} == {"author", "book"}
    assert client.discover() is discovery
    assert client.max_batch() == views.MAX_BATCH
    assert len(adapter.sent) == 1
    assert requests_sent == [("shop_b", "GET", "types/", 200)]


def test_fetch_objects_and_missing_in_one_request(client, adapter, books, requests_sent):
    pks = [str(books[3].pk), "999999", str(books[0].pk), "nope"]
    answer = client.fetch("library_app", "book", pks)
    assert [obj["pk"] for obj in answer["objects"]] == [books[3].pk, books[0].pk]
    assert answer["objects"][0]["fields"] == {
        "title": "Book 3", "price": "3.00", "in_print": True, "author": books[3].author_id,
    }
    assert answer["missing"] == ["999999", "nope"]
    # Cold: no discovery round trip before the batch.
    assert requests_sent == [("shop_b", "POST", "objects/library_app/book/batch/", 200)]


def test_fetch_nothing_sends_nothing(client, adapter):
    assert client.fetch("library_app", "book", []) == {"objects": [], "missing": []}
    assert adapter.sent == []


def test_fetch_splits_into_pages_of_the_peer_cap(client, adapter, books, monkeypatch):
    monkeypatch.setattr(views, "MAX_BATCH", 5)
    pks = [str(book.pk) for book in books] + ["999998", "999999"]
    answer = client.fetch("library_app", "book", pks)
    assert [str(obj["pk"]) for obj in answer["objects"]] == pks[:12]
    assert answer["missing"] == ["999998", "999999"]
    # One refused page (413), one discovery, then ceil(14 / 5) = 3 pages.
    paths = [request.path_url for request in adapter.sent]
    assert paths == ["/federation/objects/library_app/book/batch/", "/federation/types/"] + [
        "/federation/objects/library_app/book/batch/"] * 3
    adapter.sent.clear()
    client.fetch("library_app", "book", pks)
    assert len(adapter.sent) == 3  # the cap is known now


def test_fetch_over_cap_after_discovery_is_protocol_error(client, books, monkeypatch):
    client.discover()
    monkeypatch.setattr(views, "MAX_BATCH", 2)
    with pytest.raises(ProtocolError) as info:
        client.fetch("library_app", "book", ["1", "2", "3"])
    assert info.value.status == 413 and info.value.code == "too_many"


def test_fetch_of_unexposed_type_is_not_exposed(client, db):
    with pytest.raises(NotExposed) as info:
        client.fetch("library_app", "ledger", ["1"])
    assert info.value.status == 404 and info.value.code == "not_exposed"
    assert isinstance(info.value, ProtocolError)


@pytest.mark.parametrize(
    ("app_label", "model", "pks", "error"),
    [
        ("library_app/../x", "book", ["1"], ValueError),
        ("library_app", "book?x=1", ["1"], ValueError),
        ("library_app", "book", "123", TypeError),
        ("library_app", "book", [1], TypeError),
        ("library_app", "book", [""], TypeError),
    ],
)
def test_fetch_bad_arguments(client, adapter, app_label, model, pks, error):
    with pytest.raises(error):
        client.fetch(app_label, model, pks)
    assert adapter.sent == []


def test_list_pages_through_everything(client, books):
    seen, cursor, pages = [], None, 0
    while True:
        page = client.list("library_app", "book", cursor=cursor, limit=5)
        seen.extend(obj["pk"] for obj in page["objects"])
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [book.pk for book in books] and pages == 3


def test_list_filters(client, books):
    Book.objects.filter(pk=books[1].pk).update(in_print=False)
    page = client.list("library_app", "book", filters={"in_print": False})
    assert [obj["pk"] for obj in page["objects"]] == [books[1].pk]
    page = client.list("library_app", "book", filters={"price": Decimal("4.00")})
    assert [obj["pk"] for obj in page["objects"]] == [books[4].pk]
    filters = {"title": "Book 7", "author": books[7].author_id}
    page = client.list("library_app", "book", filters=filters)
    assert [obj["pk"] for obj in page["objects"]] == [books[7].pk]


def test_list_filter_on_unexposed_field(client, books):
    with pytest.raises(NotExposed) as info:
        client.list("library_app", "book", filters={"secret_note": "secret"})
    assert info.value.code == "field_not_exposed"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"limit": 0}, ValueError),
        ({"limit": True}, ValueError),
        ({"cursor": 5}, TypeError),
        ({"filters": {"limit": 5}}, ValueError),
        ({"filters": {"title": None}}, ValueError),
        ({"filters": {"title": ["a"]}}, ValueError),
    ],
)
def test_list_bad_arguments(client, adapter, kwargs, error):
    with pytest.raises(error):
        client.list("library_app", "book", **kwargs)
    assert adapter.sent == []


def test_list_bad_limit_for_the_peer_is_protocol_error(client, db):
    with pytest.raises(ProtocolError) as info:
        client.list("library_app", "book", limit=views.MAX_BATCH + 1)
    assert info.value.status == 400 and info.value.code == "bad_request"


def _receiver_module(monkeypatch, accept=None):
    accept = accept or (lambda sender, events: [e["id"] for e in events])
    monkeypatch.setattr(views, "receive_events", accept)


def _event():
    return {"id": str(uuid.uuid4()), "type": "deleted", "app_label": "library_app",
            "model": "book", "pk": "3"}


def test_send_events(client, monkeypatch):
    _receiver_module(monkeypatch)
    events = [_event(), _event()]
    assert client.send_events(events) == {"accepted": [e["id"] for e in events]}


def test_send_events_in_pages(client, adapter, monkeypatch):
    _receiver_module(monkeypatch)
    client.discover()
    monkeypatch.setattr(client, "page_size", lambda: 2)
    events = [_event() for _ in range(5)]
    assert client.send_events(events)["accepted"] == [e["id"] for e in events]
    assert len(adapter.sent) == 1 + 3


def test_send_events_to_a_server_without_receiver():
    error = {"error": {"code": "not_implemented", "message": "No events here."}}
    client, _adapter = scripted((501, error))
    with pytest.raises(ProtocolError) as info:
        client.send_events([_event()])
    assert info.value.status == 501 and info.value.code == "not_implemented"


def test_send_events_bad_arguments(client):
    with pytest.raises(TypeError):
        client.send_events({"id": "x"})


def test_wrong_key_is_peer_auth_error(adapter, db, requests_sent):
    peers = {"shop_b": {**CLIENT["PEERS"]["shop_b"], "KEY": "wrong"}}
    with override_settings(FEDERATION={**CLIENT, "PEERS": peers}):
        client = FederationClient("shop_b", session=session_with(adapter))
    with pytest.raises(PeerAuthError) as info:
        client.discover()
    assert info.value.status == 403 and info.value.code == "bad_signature"
    assert requests_sent == [("shop_b", "GET", "types/", 403)]


def test_unknown_to_the_peer_is_peer_auth_error(client, db):
    client.project = "shop_z"
    with pytest.raises(PeerAuthError) as info:
        client.discover()
    assert info.value.code == "unknown_peer"


# -- answers that break the protocol (scripted) --------------------------------------------

GOOD_OBJECT = {"pk": 1, "str": "Dune", "fields": {"title": "Dune"}}


@pytest.mark.parametrize(
    "answer",
    [
        (200, {"objects": [GOOD_OBJECT], "missing": []}),  # "2" never answered
        (200, {"objects": [GOOD_OBJECT, {**GOOD_OBJECT, "pk": 2}, {**GOOD_OBJECT, "pk": 3}],
               "missing": []}),  # an extra object nobody asked for
        (200, {"objects": [GOOD_OBJECT, GOOD_OBJECT], "missing": ["2"]}),  # duplicate
        (200, {"objects": [GOOD_OBJECT], "missing": ["2", "1"]}),  # both found and missing
        (200, {"objects": [{**GOOD_OBJECT, "pk": 1.0}], "missing": ["2"]}),
        (200, {"objects": [{**GOOD_OBJECT, "pk": True}], "missing": ["2"]}),
        (200, {"objects": [{**GOOD_OBJECT, "str": None}], "missing": ["2"]}),
        (200, {"objects": [{**GOOD_OBJECT, "fields": []}], "missing": ["2"]}),
        (200, {"objects": [{**GOOD_OBJECT, "extra": 1}], "missing": ["2"]}),
        (200, {"objects": [GOOD_OBJECT], "missing": [2]}),
        (200, {"objects": {}, "missing": []}),
        (200, {"objects": [GOOD_OBJECT], "missing": ["2"], "more": 1}),
        (200, ["objects"]),
        (200, b"<html>hello</html>", {"Content-Type": "text/html"}),
        (200, b'{"objects": [', JSON),
        (200, b'{"objects": NaN}', JSON),
        (200, b"[" * 50000 + b"]" * 50000, JSON),
        (200, b"\xff\xfe", JSON),
        (500, {"error": {"code": "server_error", "message": "x"}}),
        (418, b"teapot", {"Content-Type": "text/plain"}),
        (302, b"", {"Location": "http://elsewhere.test/"}),
        (413, {"error": {"code": "too_many", "message": "x"}}),
    ],
)
def test_malformed_batch_answers_are_protocol_errors(answer):
    client, adapter = scripted(answer, (200, DISCOVERY))
    client._discovery = DISCOVERY  # so that a 413 is not followed by a discovery
    with pytest.raises(ProtocolError):
        client.fetch("library_app", "book", ["1", "2"])
    assert len(adapter.sent) == 1


def test_redirect_is_not_followed():
    client, adapter = scripted((301, b"", {"Location": "http://shop-b.test/elsewhere/"}))
    with pytest.raises(ProtocolError, match="redirect") as info:
        client.discover()
    assert info.value.status == 301
    assert len(adapter.sent) == 1


@pytest.mark.parametrize(
    "discovery",
    [
        {**DISCOVERY, "protocol": 2},
        {**DISCOVERY, "protocol": True},
        {**DISCOVERY, "project": "shop_c"},
        {**DISCOVERY, "max_batch": 0},
        {**DISCOVERY, "max_batch": "500"},
        {**DISCOVERY, "types": [{"app_label": "a", "model": "b"}]},
        {**DISCOVERY, "types": [{"app_label": "a", "model": "b", "fields": [1]}]},
        {key: value for key, value in DISCOVERY.items() if key != "types"},
    ],
)
def test_malformed_discovery_is_protocol_error(discovery):
    client, _adapter = scripted((200, discovery))
    with pytest.raises(ProtocolError):
        client.discover()
    assert client._discovery is None


@pytest.mark.parametrize(
    "answer",
    [
        (200, {"objects": [GOOD_OBJECT], "next": 5}),
        (200, {"objects": [GOOD_OBJECT], "next": ""}),
        (200, {"objects": [GOOD_OBJECT, GOOD_OBJECT], "next": None}),
        (200, {"objects": [GOOD_OBJECT]}),
        (200, {"objects": [GOOD_OBJECT, {**GOOD_OBJECT, "pk": 2}], "next": None}),  # > limit
    ],
)
def test_malformed_listing_is_protocol_error(answer):
    client, _adapter = scripted(answer)
    with pytest.raises(ProtocolError):
        client.list("library_app", "book", limit=1)


@pytest.mark.parametrize(
    "answer",
    [(200, {"accepted": ["not-sent"]}), (200, {"accepted": "all"}), (200, {})],
)
def test_malformed_events_answer_is_protocol_error(answer):
    client, _adapter = scripted(answer)
    with pytest.raises(ProtocolError):
        client.send_events([_event()])


def test_response_size_cap():
    big = b'{"pad": "' + b"x" * 5000 + b'"}'
    client, _adapter = scripted((200, big, JSON), (200, big, {**JSON, "Content-Length": "5011"}))
    client.max_response_bytes = 1000
    with pytest.raises(ProtocolError, match="more than 1000 bytes"):
        client.discover()
    with pytest.raises(ProtocolError, match="announced"):
        client.discover()


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectionError("refused"),
        requests.ConnectTimeout("slow connect"),
        requests.ReadTimeout("slow read"),
        requests.exceptions.RetryError("too many retries"),
    ],
)
def test_transport_errors_are_peer_unavailable(failure, requests_sent):
    client, _adapter = scripted(failure)
    with pytest.raises(PeerUnavailable) as info:
        client.discover()
    assert info.value.__cause__ is failure
    assert requests_sent == [("shop_b", "GET", "types/", None)]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_peer_unavailable(status):
    client, _adapter = scripted((status, b"down", {"Content-Type": "text/plain"}))
    with pytest.raises(PeerUnavailable) as info:
        client.discover()
    assert info.value.status == status


# -- circuit breaker -----------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_circuit_opens_after_consecutive_failures_then_half_opens(requests_sent):
    down = requests.ConnectionError("refused")
    client, adapter = scripted(down, down, down, down, (200, DISCOVERY))
    clock = client.breaker.clock = FakeClock()
    for _ in range(3):
        with pytest.raises(PeerUnavailable):
            client.discover()
    assert client.breaker.is_open
    with pytest.raises(PeerUnavailable, match="circuit open"):
        client.discover()
    assert len(adapter.sent) == 3 and len(requests_sent) == 3  # failed fast: nothing sent
    clock.now += client.cooldown
    # Half-open: one trial; it fails, so the circuit opens for another cooldown.
    with pytest.raises(PeerUnavailable, match="did not answer"):
        client.discover()
    with pytest.raises(PeerUnavailable, match="circuit open"):
        client.discover()
    assert len(adapter.sent) == 4
    clock.now += client.cooldown
    assert client.discover() == DISCOVERY  # the trial succeeds: closed again
    assert not client.breaker.is_open and client.breaker.failures == 0


def test_success_resets_the_failure_count():
    down = requests.ConnectionError("refused")
    ok = (200, {"objects": [], "missing": ["1"]})
    client, adapter = scripted(down, down, ok, down, down, ok)
    for _ in range(2):
        for answer in (PeerUnavailable, PeerUnavailable, None):
            if answer:
                with pytest.raises(answer):
                    client.fetch("library_app", "book", ["1"])
            else:
                client.fetch("library_app", "book", ["1"])
    assert not client.breaker.is_open and len(adapter.sent) == 6


def test_refusals_and_client_errors_do_not_open_the_circuit():
    refusal = (403, {"error": {"code": "bad_signature", "message": "no"}})
    client, adapter = scripted(*[refusal] * 4)
    for _ in range(4):
        with pytest.raises(PeerAuthError):
            client.discover()
    assert not client.breaker.is_open and len(adapter.sent) == 4


def test_garbage_answers_open_the_circuit():
    garbage = (200, b"<html>a parking page</html>", {"Content-Type": "text/html"})
    client, adapter = scripted(garbage, garbage, garbage)
    for _ in range(3):
        with pytest.raises(ProtocolError):
            client.discover()
    with pytest.raises(PeerUnavailable, match="circuit open"):
        client.discover()
    assert len(adapter.sent) == 3


def test_server_errors_open_the_circuit():
    client, adapter = scripted(*[(500, {"error": {"code": "server_error", "message": ""}})] * 3)
    for _ in range(3):
        with pytest.raises(ProtocolError):
            client.discover()
    with pytest.raises(PeerUnavailable, match="circuit open"):
        client.discover()


# -- construction and the per-process cache ------------------------------------------------


def test_unknown_peer_is_peer_unavailable():
    with pytest.raises(PeerUnavailable, match="shop_z"):
        FederationClient("shop_z")
    with pytest.raises(PeerUnavailable, match="shop_z"):
        get_client("shop_z")


def test_timeout_kwarg_wins_over_settings():
    assert FederationClient("shop_b").timeout == 1.0
    assert FederationClient("shop_b", timeout=0.25).timeout == 0.25
    for bad in (0, -1, "2", True):
        with pytest.raises(ValueError):
            FederationClient("shop_b", timeout=bad)


def test_get_client_is_cached_per_peer():
    client = get_client("shop_b")
    assert get_client("shop_b") is client
    assert client.session.get_adapter("http://x/").max_retries.total == 2
    reset_clients()
    assert get_client("shop_b") is not client


def test_settings_changes_give_new_clients():
    client = get_client("shop_b")
    with override_settings(FEDERATION={**CLIENT, "TIMEOUT": 3.0}):
        changed = get_client("shop_b")
        assert changed is not client and changed.timeout == 3.0
    assert get_client("shop_b").timeout == 1.0


def test_stale_client_is_never_returned():
    from federated_relations import client as client_module

    stale = FederationClient("shop_b", timeout=9.0)  # built from other values
    client_module._clients["shop_b"] = stale
    assert get_client("shop_b") is not stale


def test_errors_are_federation_errors():
    assert issubclass(NotExposed, ProtocolError)
    assert issubclass(ProtocolError, FederationError)


# -- real sockets: urllib3 retries, timeouts, refused connections --------------------------


def real_client(url, timeout=1.0):
    peers = {"shop_b": {"URL": url, "KEY": KEY}}
    with override_settings(FEDERATION={**CLIENT, "PEERS": peers}):
        return FederationClient("shop_b", timeout=timeout)


def test_retries_gateway_errors_then_succeeds(requests_sent):
    with ScriptedHTTPServer((503, {}, 0), (502, {}, 0), (200, DISCOVERY, 0)) as server:
        client = real_client(server.url)
        assert client.discover() == DISCOVERY
        assert server.hits == 3
    assert requests_sent == [("shop_b", "GET", "types/", 200)]  # one request, retried inside


def test_gives_up_after_two_retries():
    with ScriptedHTTPServer(*[(503, {}, 0)] * 4) as server:
        client = real_client(server.url)
        with pytest.raises(PeerUnavailable) as info:
            client.discover()
        assert info.value.status == 503 and server.hits == 3


def test_ignores_retry_after():
    with ScriptedHTTPServer((503, {}, 0, {"Retry-After": "3600"}), (200, DISCOVERY, 0)) as server:
        client = real_client(server.url)
        # Retry-After is not honoured: the configuration says so, and the retry succeeds.
        retry = client.session.get_adapter(server.url).max_retries
        assert retry.respect_retry_after_header is False
        assert client.discover() == DISCOVERY


def test_batch_post_is_retried():
    answer = {"objects": [], "missing": ["1"]}
    with ScriptedHTTPServer((504, {}, 0), (200, answer, 0)) as server:
        client = real_client(server.url)
        assert client.fetch("library_app", "book", ["1"]) == answer
        assert server.hits == 2


def test_connection_refused_is_peer_unavailable(requests_sent):
    client = real_client(f"http://127.0.0.1:{free_port()}/federation/")
    with pytest.raises(PeerUnavailable) as info:
        client.discover()
    assert isinstance(info.value.__cause__, requests.ConnectionError)
    assert requests_sent == [("shop_b", "GET", "types/", None)]


def test_slow_peer_times_out():
    with ScriptedHTTPServer((200, DISCOVERY, 2.0), (200, DISCOVERY, 2.0)) as server:
        client = real_client(server.url, timeout=0.3)
        with pytest.raises(PeerUnavailable):
            client.discover()
        # A read timeout is never retried: one TIMEOUT per request, whatever the peer does.
        assert server.hits == 1


def test_real_redirect_is_not_followed():
    with ScriptedHTTPServer((302, {}, 0, {"Location": "/federation/types/"})) as server:
        client = real_client(server.url)
        with pytest.raises(ProtocolError, match="redirect"):
            client.discover()
        assert server.hits == 1


def test_real_oversized_answer():
    big = {"pad": "x" * (DEFAULT_MAX_BATCH * 100)}
    with ScriptedHTTPServer((200, big, 0)) as server:
        client = real_client(server.url)
        client.max_response_bytes = 1000
        with pytest.raises(ProtocolError, match="announced"):
            client.discover()


def test_discovery_once_under_concurrency():
    def slow_discovery(request):
        time.sleep(0.2)
        return make_response(request, 200, json.dumps(DISCOVERY).encode(), JSON)

    client, adapter = scripted(slow_discovery)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.discover(), range(8)))
    assert all(result == DISCOVERY for result in results)
    assert len(adapter.sent) == 1


# -- a real server: the views over WSGI and sockets ---------------------------------------


@pytest.fixture
def live_client(db):
    """A default client (pooled session, retries) of the views served over a real socket."""
    with LiveWSGIServer() as server:
        peers = {"shop_b": {"URL": f"{server.url}/federation/", "KEY": KEY}}
        with override_settings(FEDERATION={**CLIENT, "PEERS": peers}):
            client = FederationClient("shop_b")
        # The client keeps what it was built with; the server now sees shop_b's settings.
        with override_settings(FEDERATION=SERVER, ROOT_URLCONF="tests.library_app.urls",
                               ALLOWED_HOSTS=["127.0.0.1"]):
            yield client
        client.close()


def test_against_a_live_server(live_client, requests_sent):
    author = Author.objects.create(name="Jane Austen")
    books = [Book.objects.create(title=f"Emma {n}", price=n, author=author) for n in range(7)]
    assert live_client.discover()["project"] == "shop_b"
    answer = live_client.fetch("library_app", "book", [str(books[2].pk), "0", "x y"])
    assert [obj["str"] for obj in answer["objects"]] == ["Emma 2"]
    assert answer["missing"] == ["0", "x y"]
    seen, cursor = [], None
    while True:
        page = live_client.list("library_app", "book", cursor=cursor, limit=3)
        seen.extend(obj["pk"] for obj in page["objects"])
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [book.pk for book in books]
    page = live_client.list("library_app", "book", filters={"title": "Emma 5", "in_print": True})
    assert [obj["pk"] for obj in page["objects"]] == [books[5].pk]
    with pytest.raises(NotExposed):
        live_client.list("library_app", "ledger")
    assert all(status in (200, 404) for *_rest, status in requests_sent)
    assert len(requests_sent) == 1 + 1 + 3 + 1 + 1
