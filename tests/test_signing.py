"""Tests of ``federated_relations.signing``: HMAC request signatures and their verification."""

from __future__ import annotations

import time

import pytest
import requests
from django.test import RequestFactory, override_settings

from federated_relations.signing import (
    HEADER_PROJECT,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_CLOCK_SKEW,
    BadRequestSignature,
    ExpiredSignature,
    SignatureError,
    UnknownPeer,
    UnsignedRequest,
    canonical_path,
    sign_prepared_request,
    sign_request,
    signature_message,
    verify_request,
)

KEY = "secret-ab"
FEDERATION = {
    "PROJECT_NAME": "shop_b",
    "PEERS": {"shop_a": {"URL": "http://shop-a.test/federation/", "KEY": KEY}},
}
PATH = "/federation/objects/library_app/book/batch/"
BODY = b'{"pks":["1","2"]}'

pytestmark = pytest.mark.usefixtures("server_settings")


@pytest.fixture
def server_settings():
    with override_settings(FEDERATION=FEDERATION):
        yield


def _request(method="POST", path=PATH, query="", body=BODY, headers=None, **sign):
    """Return a Django request as the server sees it, signed unless ``headers`` is given."""
    if headers is None:
        options = {"project": "shop_a", "key": KEY, **sign}
        headers = sign_request(method, path, query, body, **options)
    url = f"{path}?{query}" if query else path
    return RequestFactory().generic(
        method, url, data=body, content_type="application/json", headers=headers
    )


def test_round_trip():
    assert verify_request(_request()) == "shop_a"


def test_round_trip_get_with_query_and_no_body():
    request = _request("GET", "/federation/objects/a/b/", "limit=2&title=D%C3%BCne", b"")
    assert verify_request(request) == "shop_a"


def test_headers_and_message():
    headers = sign_request("post", PATH, "", BODY, project="shop_a", key=KEY, timestamp=100)
    assert headers[HEADER_PROJECT] == "shop_a"
    assert headers[HEADER_TIMESTAMP] == "100"
    assert len(headers[HEADER_SIGNATURE]) == 64
    lines = signature_message("post", PATH, "", 100, BODY).decode().split("\n")
    assert lines[:4] == ["POST", PATH, "", "100"]
    assert len(lines[4]) == 64
    # A str body signs like its UTF-8 bytes; no body like an empty one.
    assert sign_request("GET", "/", "", None, project="p", key="k", timestamp=1) == sign_request(
        "GET", "/", "", b"", project="p", key="k", timestamp=1
    )


def test_canonical_path_ignores_percent_encoding_choices():
    assert canonical_path("/a/%7Eb/") == canonical_path("/a/~b/") == "/a/~b/"
    assert canonical_path("/a b/") == "/a%20b/"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "PUT"),
        ("path", "/federation/objects/library_app/author/batch/"),
        ("query", "limit=3"),
        ("body", b'{"pks":["1","3"]}'),
    ],
)
def test_tampered_request_is_refused(field, value):
    headers = sign_request("POST", PATH, "", BODY, project="shop_a", key=KEY)
    sent = {"method": "POST", "path": PATH, "query": "", "body": BODY, field: value}
    request = _request(headers=headers, **sent)
    with pytest.raises(BadRequestSignature) as info:
        verify_request(request)
    assert (info.value.status, info.value.code) == (403, "bad_signature")


def test_tampered_timestamp_is_refused():
    headers = sign_request("POST", PATH, "", BODY, project="shop_a", key=KEY)
    headers[HEADER_TIMESTAMP] = str(int(headers[HEADER_TIMESTAMP]) + 1)
    with pytest.raises(BadRequestSignature):
        verify_request(_request(headers=headers))


@pytest.mark.parametrize("skew", [MAX_CLOCK_SKEW + 5, -(MAX_CLOCK_SKEW + 5)])
def test_timestamp_outside_window_is_expired(skew):
    request = _request(timestamp=int(time.time()) + skew)
    with pytest.raises(ExpiredSignature) as info:
        verify_request(request)
    assert (info.value.status, info.value.code) == (403, "expired")


@pytest.mark.parametrize("skew", [MAX_CLOCK_SKEW - 5, -(MAX_CLOCK_SKEW - 5)])
def test_timestamp_inside_window_is_accepted(skew):
    assert verify_request(_request(timestamp=int(time.time()) + skew)) == "shop_a"


def test_wrong_key_is_refused():
    with pytest.raises(BadRequestSignature):
        verify_request(_request(key="another-secret"))


def test_unknown_peer_is_refused():
    with pytest.raises(UnknownPeer) as info:
        verify_request(_request(project="shop_z"))
    assert (info.value.status, info.value.code) == (403, "unknown_peer")


@pytest.mark.parametrize("missing", [HEADER_PROJECT, HEADER_TIMESTAMP, HEADER_SIGNATURE])
def test_missing_header_is_unsigned(missing):
    headers = sign_request("POST", PATH, "", BODY, project="shop_a", key=KEY)
    del headers[missing]
    with pytest.raises(UnsignedRequest) as info:
        verify_request(_request(headers=headers))
    assert (info.value.status, info.value.code) == (401, "unsigned")
    assert isinstance(info.value, SignatureError)


@pytest.mark.parametrize(
    ("header", "value"),
    [(HEADER_TIMESTAMP, "soon"), (HEADER_TIMESTAMP, "-5"), (HEADER_SIGNATURE, "Z" * 64),
     (HEADER_SIGNATURE, "ab")],
)
def test_malformed_headers_are_bad_signatures(header, value):
    headers = sign_request("POST", PATH, "", BODY, project="shop_a", key=KEY)
    headers[header] = value
    with pytest.raises(BadRequestSignature):
        verify_request(_request(headers=headers))


def test_sign_prepared_request_signs_what_goes_on_the_wire():
    prepared = requests.Request(
        "GET", "http://shop-b.test/federation/objects/a/b/", params={"title": "Dune Messiah"}
    ).prepare()
    sign_prepared_request(prepared, project="shop_a", key=KEY)
    headers = {name: prepared.headers[name] for name in
               (HEADER_PROJECT, HEADER_TIMESTAMP, HEADER_SIGNATURE)}
    request = _request("GET", "/federation/objects/a/b/", "title=Dune+Messiah", b"",
                       headers=headers)
    assert verify_request(request) == "shop_a"


def test_sign_prepared_request_needs_url_and_method():
    with pytest.raises(ValueError, match="URL"):
        sign_prepared_request(requests.PreparedRequest(), project="p", key="k")
