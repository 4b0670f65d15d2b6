"""Tests of the peer endpoints (``federated_relations.views``) with real signatures."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

import pytest
from django.core import signing as django_signing
from django.test import Client, override_settings

from federated_relations import views
from federated_relations.signing import HEADER_SIGNATURE, sign_request
from federated_relations.views import MAX_BATCH
from tests.library_app.models import Author, Book, Ledger, Pamphlet, Shelf

KEY_A = "secret-ab"
SERVER = {
    "PROJECT_NAME": "shop_b",
    "PEERS": {
        "shop_a": {"URL": "http://shop-a.test/federation/", "KEY": KEY_A},
        "shop_c": {"URL": "http://shop-c.test/federation/", "KEY": "secret-cb"},
    },
    "EXPOSE": {
        "library_app.Book": ["title", "price", "published", "in_print", "author"],
        "library_app.Author": ["name"],
        "library_app.Pamphlet": ["title"],
        "library_app.Shelf": ["label"],
    },
}
SECRET = "the-butler-did-it"
BASE = "/federation/"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("server")]


@pytest.fixture
def server():
    with override_settings(FEDERATION=SERVER, ROOT_URLCONF="tests.library_app.urls"):
        yield


def call(method, path, payload=None, *, project="shop_a", key=KEY_A, raw=None, query="",
         headers=None, content_type="application/json", **sign):
    """Send a request signed as ``project`` through a CSRF-enforcing test client."""
    body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
    url = BASE + path
    if headers is None:
        headers = sign_request(method, url, query, body, project=project, key=key, **sign)
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    return client.generic(
        method, f"{url}?{query}" if query else url, data=body, content_type=content_type,
        headers=headers,
    )


def error_of(response):
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {"error"} and set(data["error"]) == {"code", "message"}
    assert "Traceback" not in data["error"]["message"]
    return data["error"]["code"]


@pytest.fixture
def books():
    author = Author.objects.create(name="Frank Herbert", email="frank@example.com")
    return [
        Book.objects.create(title="Dune", price=Decimal("9.50"), author=author,
                            published=datetime.date(1965, 8, 1), secret_note=SECRET),
        Book.objects.create(title="Emma", price=Decimal("7.00"), in_print=False,
                            secret_note=SECRET),
    ]


# -- discovery -----------------------------------------------------------------------------


def test_discovery_lists_exposed_types_and_fields():
    response = call("GET", "types/")
    assert response.status_code == 200
    assert response.json() == {
        "protocol": 1,
        "project": "shop_b",
        "max_batch": MAX_BATCH,
        "types": [
            {"app_label": "library_app", "model": "author", "fields": ["name"]},
            {"app_label": "library_app", "model": "book",
             "fields": ["title", "price", "published", "in_print", "author"]},
            {"app_label": "library_app", "model": "pamphlet", "fields": ["title"]},
            {"app_label": "library_app", "model": "shelf", "fields": ["label"]},
        ],
    }
    assert "no-store" in response["Cache-Control"]


# -- authentication ------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "types/"),
    ("GET", "objects/library_app/book/"),
    ("POST", "objects/library_app/book/batch/"),
    ("POST", "events/"),
    # Signature first: an unexposed type or an unknown URL tells an unsigned caller nothing.
    ("POST", "objects/library_app/ledger/batch/"),
    ("GET", "nowhere/"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_unsigned_request_is_401(method, path):
    response = call(method, path, {"pks": ["1"]}, headers={})
    assert response.status_code == 401
    assert error_of(response) == "unsigned"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_unknown_peer_is_403(method, path):
    response = call(method, path, {"pks": ["1"]}, project="shop_z")
    assert response.status_code == 403
    assert error_of(response) == "unknown_peer"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_wrong_key_is_403(method, path):
    # shop_c's key does not sign for shop_a.
    response = call(method, path, {"pks": ["1"]}, key="secret-cb")
    assert response.status_code == 403
    assert error_of(response) == "bad_signature"


@pytest.mark.parametrize(("method", "path"), [("PUT", "types/"), ("GET", "events/")])
def test_signature_is_checked_before_the_method(method, path):
    assert call(method, path, headers={}).status_code == 401
    assert call(method, path, project="shop_z").status_code == 403


def test_expired_timestamp_is_403():
    response = call("GET", "types/", timestamp=1_000_000)
    assert response.status_code == 403
    assert error_of(response) == "expired"


def test_tampered_body_is_403():
    url = BASE + "objects/library_app/book/batch/"
    headers = sign_request("POST", url, "", b'{"pks":["1"]}', project="shop_a", key=KEY_A)
    response = call("POST", "objects/library_app/book/batch/", {"pks": ["2"]}, headers=headers)
    assert response.status_code == 403
    assert error_of(response) == "bad_signature"


def test_tampered_query_is_403():
    url = BASE + "objects/library_app/book/"
    headers = sign_request("GET", url, "title=Dune", b"", project="shop_a", key=KEY_A)
    response = call("GET", "objects/library_app/book/", query="title=Emma", headers=headers)
    assert response.status_code == 403


def test_another_peer_signs_with_its_own_key():
    response = call("GET", "types/", project="shop_c", key="secret-cb")
    assert response.status_code == 200


def test_garbage_signature_header_is_403():
    url = BASE + "types/"
    headers = sign_request("GET", url, "", b"", project="shop_a", key=KEY_A)
    headers[HEADER_SIGNATURE] = "not hex"
    assert call("GET", "types/", headers=headers).status_code == 403


# -- methods and unknown URLs --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "types/", "GET"),
        ("GET", "objects/library_app/book/batch/", "POST"),
        ("DELETE", "objects/library_app/book/", "GET"),
        ("GET", "events/", "POST"),
        ("PUT", "events/", "POST"),
    ],
)
def test_wrong_method_is_405(method, path, allow):
    response = call(method, path)
    assert response.status_code == 405
    assert error_of(response) == "method_not_allowed"
    assert response["Allow"] == allow


@pytest.mark.parametrize("path", ["nowhere/", "objects/library_app/book/batch", "types"])
def test_unknown_url_is_json_404(path):
    response = call("GET", path)
    assert response.status_code == 404
    assert error_of(response) == "not_exposed"


# -- batch lookup --------------------------------------------------------------------------


def test_batch_returns_objects_and_missing(books):
    dune, emma = books
    pks = [str(emma.pk), "999999", str(dune.pk), "x", "0" + str(dune.pk), str(emma.pk)]
    response = call("POST", "objects/library_app/book/batch/", {"pks": pks})
    assert response.status_code == 200
    assert response.json() == {
        "objects": [
            {"pk": emma.pk, "str": "Emma", "fields": {
                "title": "Emma", "price": "7.00", "published": None, "in_print": False,
                "author": None}},
            {"pk": dune.pk, "str": "Dune", "fields": {
                "title": "Dune", "price": "9.50", "published": "1965-08-01", "in_print": True,
                "author": dune.author_id}},
        ],
        # Not the canonical text of a pk ("x", "01") means no such object.
        "missing": ["999999", "x", "0" + str(dune.pk)],
    }
    assert SECRET.encode() not in response.content
    assert b"frank@example.com" not in response.content


def test_batch_with_out_of_range_integer_is_missing():
    pks = ["99999999999999999999999", "-1"]
    response = call("POST", "objects/library_app/book/batch/", {"pks": pks})
    assert response.status_code == 200
    assert response.json() == {"objects": [], "missing": pks}


def test_batch_of_nothing():
    response = call("POST", "objects/library_app/book/batch/", {"pks": []})
    assert response.json() == {"objects": [], "missing": []}


def test_batch_uuid_and_string_pks():
    pamphlet = Pamphlet.objects.create(title="Common Sense", secret_note=SECRET)
    Shelf.objects.create(code="A-1", label="Fiction")
    response = call("POST", "objects/library_app/pamphlet/batch/",
                    {"pks": [str(pamphlet.pk), pamphlet.pk.hex, str(uuid.uuid4()), "nope"]})
    data = response.json()
    assert data["objects"] == [
        {"pk": str(pamphlet.pk), "str": "Common Sense", "fields": {"title": "Common Sense"}}
    ]
    assert len(data["missing"]) == 3
    response = call("POST", "objects/library_app/shelf/batch/", {"pks": ["A-1", "a-1"]})
    assert response.json() == {
        "objects": [{"pk": "A-1", "str": "Fiction", "fields": {"label": "Fiction"}}],
        "missing": ["a-1"],
    }


def test_batch_cap(books):
    pks = [str(n) for n in range(1, MAX_BATCH + 1)]
    response = call("POST", "objects/library_app/book/batch/", {"pks": pks})
    assert response.status_code == 200
    assert len(response.json()["objects"]) == 2
    response = call("POST", "objects/library_app/book/batch/", {"pks": [*pks, "501"]})
    assert response.status_code == 413
    assert error_of(response) == "too_many"


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'\xff\xfe', "application/json"),
        (b'["1"]', "application/json"),
        (b'{"pks": "1"}', "application/json"),
        (b'{"pks": [1]}', "application/json"),
        (b'{"pks": [""]}', "application/json"),
        (b'{"pks": [null]}', "application/json"),
        (json.dumps({"pks": ["9" * 256]}).encode(), "application/json"),
        (b'{"pks": ["1"], "more": true}', "application/json"),
        (b'{"pks": ["1"]}', "text/plain"),
        (b"[" * 100000 + b"]" * 100000, "application/json"),
    ],
)
def test_batch_malformed_body_is_400(raw, content_type):
    response = call("POST", "objects/library_app/book/batch/", raw=raw,
                    content_type=content_type)
    assert response.status_code == 400
    assert error_of(response) == "bad_request"
    assert b"9999" not in response.content


@pytest.mark.parametrize("path", ["objects/library_app/ledger/batch/",
                                  "objects/nowhere/book/batch/",
                                  "objects/library_app/Book/batch/"])
def test_batch_of_unexposed_type_is_404(path):
    Ledger.objects.create(amount=5)
    response = call("POST", path, {"pks": ["1"]})
    assert response.status_code == 404
    assert error_of(response) == "not_exposed"


def test_body_over_django_upload_limit_is_413():
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        response = call("POST", "objects/library_app/book/batch/",
                        {"pks": [str(n) for n in range(100)]})
    assert response.status_code == 413
    assert error_of(response) == "too_large"


# -- listing -------------------------------------------------------------------------------


def _all_pages(path, query="", limit=None):
    pks, cursor, pages = [], None, 0
    while True:
        params = [part for part in (query, f"limit={limit}" if limit else "") if part]
        if cursor:
            params.append(f"cursor={cursor}")
        response = call("GET", path, query="&".join(params))
        assert response.status_code == 200, response.content
        data = response.json()
        assert set(data) == {"objects", "next"}
        pks.extend(obj["pk"] for obj in data["objects"])
        pages += 1
        cursor = data["next"]
        if cursor is None:
            return pks, pages


def test_listing_pages_cover_every_row_exactly_once():
    created = [Book.objects.create(title=f"B{n}", price=n, secret_note=SECRET).pk
               for n in range(23)]
    pks, pages = _all_pages("objects/library_app/book/", limit=5)
    assert pks == sorted(created)
    assert pages == 5
    pks, pages = _all_pages("objects/library_app/book/", limit=23)
    assert (pks, pages) == (sorted(created), 1)
    pks, pages = _all_pages("objects/library_app/book/")  # default limit 100
    assert (pks, pages) == (sorted(created), 1)


def test_listing_uuid_pks_in_pages():
    created = {str(Pamphlet.objects.create(title=f"P{n}").pk) for n in range(7)}
    pks, pages = _all_pages("objects/library_app/pamphlet/", limit=3)
    assert sorted(pks) == sorted(created) and len(pks) == 7 and pages == 3


def test_listing_serializes_only_exposed_fields(books):
    response = call("GET", "objects/library_app/book/")
    data = response.json()
    assert [obj["str"] for obj in data["objects"]] == ["Dune", "Emma"]
    assert set(data["objects"][0]["fields"]) == set(SERVER["EXPOSE"]["library_app.Book"])
    assert SECRET.encode() not in response.content


def test_listing_filters_on_exposed_fields(books):
    dune, emma = books
    for query, expected in [
        ("title=Dune", [dune.pk]),
        ("in_print=false", [emma.pk]),
        ("price=7.00", [emma.pk]),
        (f"author={dune.author_id}", [dune.pk]),
        ("published=1965-08-01", [dune.pk]),
        ("title=Dune&in_print=false", []),
        ("title=Nothing", []),
    ]:
        response = call("GET", "objects/library_app/book/", query=query)
        assert response.status_code == 200, query
        assert [obj["pk"] for obj in response.json()["objects"]] == expected, query


def test_listing_filter_and_pagination(books):
    for n in range(6):
        Book.objects.create(title="Same", price=n)
    pks, pages = _all_pages("objects/library_app/book/", query="title=Same", limit=4)
    assert len(pks) == 6 and len(set(pks)) == 6 and pages == 2


@pytest.mark.parametrize("query", ["secret_note=x", "id=1", "pk=1", "nonexistent=1"])
def test_listing_filter_on_unexposed_field_is_400(books, query):
    response = call("GET", "objects/library_app/book/", query=query)
    assert response.status_code == 400
    assert error_of(response) == "field_not_exposed"
    assert SECRET.encode() not in response.content


@pytest.mark.parametrize(
    "query",
    ["limit=0", f"limit={MAX_BATCH + 1}", "limit=x", "limit=-1", "limit=1&limit=2",
     "title=a&title=b", "price=cheap", "published=yesterday", "author=someone",
     "cursor=garbage"],
)
def test_listing_bad_parameters_are_400(query):
    response = call("GET", "objects/library_app/book/", query=query)
    assert response.status_code == 400
    assert error_of(response) == "bad_request"
    assert b"cheap" not in response.content and b"yesterday" not in response.content


def test_listing_cursor_of_another_type_is_400(books):
    Author.objects.create(name="Jane Austen")
    response = call("GET", "objects/library_app/author/", query="limit=1")
    cursor = response.json()["next"]
    assert cursor
    response = call("GET", "objects/library_app/book/", query=f"cursor={cursor}")
    assert response.status_code == 400
    forged = django_signing.dumps(["library_app.book", "01"], salt="other")
    response = call("GET", "objects/library_app/book/", query=f"cursor={forged}")
    assert response.status_code == 400


def test_listing_of_unexposed_type_is_404():
    response = call("GET", "objects/library_app/ledger/")
    assert response.status_code == 404
    assert error_of(response) == "not_exposed"


# -- events --------------------------------------------------------------------------------


def _event(**changes):
    return {"id": str(uuid.uuid4()), "type": "deleted", "app_label": "library_app",
            "model": "book", "pk": "3", **changes}


@pytest.fixture
def receiver(monkeypatch):
    """Replace ``events.receive_events`` in the view by one that records what it receives."""
    calls = []

    def receive_events(sender, events):
        calls.append((sender, events))
        return [event["id"] for event in events]

    monkeypatch.setattr(views, "receive_events", receive_events)
    return calls


def test_events_are_handed_to_the_receiver(receiver):
    events = [_event(), _event(pk="4")]
    response = call("POST", "events/", {"events": events})
    assert response.status_code == 200
    assert response.json() == {"accepted": [event["id"] for event in events]}
    assert receiver == [("shop_a", events)]


@pytest.mark.parametrize(
    "event",
    [
        _event(id="not-a-uuid"),
        _event(id=str(uuid.uuid4()).upper()),
        _event(id=uuid.uuid4().hex),
        _event(type="created"),
        _event(pk=3),
        _event(pk=""),
        _event(pk="9" * 256),
        _event(extra="x"),
        {"id": str(uuid.uuid4()), "type": "deleted"},
        "deleted",
    ],
)
def test_malformed_events_are_400(receiver, event):
    response = call("POST", "events/", {"events": [event]})
    assert response.status_code == 400
    assert error_of(response) == "bad_event"
    assert receiver == []


def test_too_many_events_is_413(receiver):
    response = call("POST", "events/", {"events": [_event() for _ in range(MAX_BATCH + 1)]})
    assert response.status_code == 413
    assert error_of(response) == "too_many"


@pytest.mark.parametrize("debug", [False, True])
def test_receiver_failure_is_a_json_500_without_details(monkeypatch, debug):
    def receive_events(sender, events):
        raise RuntimeError(SECRET)

    monkeypatch.setattr(views, "receive_events", receive_events)
    with override_settings(DEBUG=debug):
        response = call("POST", "events/", {"events": [_event()]})
    assert response.status_code == 500
    assert error_of(response) == "server_error"
    assert SECRET.encode() not in response.content


def test_receiver_accepting_unknown_ids_is_500(monkeypatch):
    monkeypatch.setattr(views, "receive_events", lambda sender, events: [str(uuid.uuid4())])
    response = call("POST", "events/", {"events": [_event()]})
    assert response.status_code == 500


def test_events_reach_the_real_receiver():
    """The seam with ``federated_relations.events``: accepted once, again on a repeat."""
    events = [_event(), _event(pk="4")]
    for _ in range(2):
        response = call("POST", "events/", {"events": events})
        assert response.status_code == 200, response.content
        assert response.json() == {"accepted": [event["id"] for event in events]}
