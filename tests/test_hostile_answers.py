"""Hostile answers from a peer: a real misbehaving HTTP server, and nothing local changes.

``HostileServer`` is a TCP server on 127.0.0.1 that reads each request and then misbehaves
on purpose: invalid JSON, wrong types, objects nobody asked for, 50 MB bodies, answers
dripped a byte at a time, redirects, 5xx bursts, connection resets. It counts the requests
it received and the bytes it managed to send, so the tests assert what the client did
(how much it read, how often it asked) rather than how long it took.

Each misbehaviour is met three ways: by ``FederationClient`` directly (the typed error of
API.md), by reading a ``FederatedForeignKey`` with ``ON_REMOTE_ERROR="placeholder"`` (a
placeholder) and by a prefetch with ``ON_REMOTE_ERROR="raise"`` (the typed error). Around
each, ``snapshot()`` proves that the local database is the same, row for row and value
for value, in every table.
"""

from __future__ import annotations

import functools
import gzip
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.test import override_settings

from federated_relations.client import FederationClient, reset_clients
from federated_relations.exceptions import (
    FederationError,
    PeerUnavailable,
    ProtocolError,
)
from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from federated_relations.test import assert_num_requests, capture_requests
from tests.testapp.models import Animal, TaggedItem

__all__ = ["HostileServer", "snapshot"]

KEY = "hostile-answers-key"
#: Seconds; the slow scenarios drip for many times longer than this.
TIMEOUT = 1.0
MB = 1024 * 1024


def snapshot(exclude=()):
    """Return every row of every table, by model label: the local database's contents.

    Rows are ordered by pk and hold every column's value, so two equal snapshots mean the
    same rows with the same values (``exclude``: models whose tables may legitimately change).
    """
    excluded = {model._meta.label for model in exclude}
    tables = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy or meta.label in excluded:
            continue
        tables[meta.label] = list(model._base_manager.order_by("pk").values_list())
    return tables


# -- the misbehaving server ----------------------------------------------------------------


class HostileServer:
    """A real HTTP server on 127.0.0.1 that answers every request with ``behaviour``.

    ``behaviour(server, sock, request_line)`` writes whatever it likes with ``send``.
    ``.hits`` counts requests received; ``.sent`` counts body bytes the peer accepted
    before it stopped reading (or the behaviour finished); ``.url`` is the base URL.
    """

    def __init__(self, behaviour: Callable[..., None]) -> None:
        self.behaviour = behaviour
        self.hits = 0
        self.sent = 0
        self.requests: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock = self.request
                sock.settimeout(10)
                try:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = sock.recv(65536)
                        if not chunk:
                            return
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    length = 0
                    for line in lines[1:]:
                        name, _, value = line.partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value.strip())
                    while len(body) < length:
                        body += sock.recv(65536)
                    with outer.lock:
                        outer.hits += 1
                        outer.requests.append(lines[0])
                    outer.behaviour(outer, sock, lines[0])
                except OSError:
                    pass  # the client hung up: that is what several scenarios want

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/federation/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def send(self, sock: socket.socket, data: bytes, *, body: bool = True) -> None:
        """Write ``data``; count it as body bytes the client accepted once it is written."""
        sock.sendall(data)
        if body:
            with self.lock:
                self.sent += len(data)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Hostile"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Callable:
    """Answer once, completely: ``body`` is bytes or JSON data."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()

    def behaviour(server: HostileServer, sock: socket.socket, request_line: str) -> None:
        head = {"Content-Type": "application/json", "Content-Length": str(len(data)),
                "Connection": "close", **(headers or {})}
        server.send(sock, _head(status, head), body=False)
        server.send(sock, data)

    return behaviour


def stream(total: int, *, announce: bool) -> Callable:
    """Send a JSON-looking body of ``total`` bytes in 64 KiB writes until the client quits."""
    chunk = b" " * (64 * 1024)

    def behaviour(server: HostileServer, sock: socket.socket, request_line: str) -> None:
        head = {"Content-Type": "application/json", "Connection": "close"}
        if announce:
            head["Content-Length"] = str(total)
        server.send(sock, _head(200, head), body=False)
        server.send(sock, b'{"objects": [], "missing": ["1"], "pad": "')
        written = 0
        while written < total:
            server.send(sock, chunk)
            written += len(chunk)

    return behaviour


def drip(*, in_headers: bool, step: float = 0.02, limit: int = 400) -> Callable:
    """Send the answer one byte every ``step`` seconds, ``limit`` bytes at most.

    ``limit * step`` (8 s) is many times ``TIMEOUT``: a client that waits for the drip to
    end has read all ``limit`` bytes.
    """
    body = json.dumps({"objects": [], "missing": ["1"], "pad": " " * limit}).encode()

    def behaviour(server: HostileServer, sock: socket.socket, request_line: str) -> None:
        head = _head(200, {"Content-Type": "application/json",
                           "Content-Length": str(len(body)), "Connection": "close"})
        if not in_headers:
            server.send(sock, head, body=False)
        data = (head if in_headers else b"") + body
        for index in range(min(limit, len(data))):
            server.send(sock, data[index:index + 1])
            time.sleep(step)

    return behaviour


@functools.cache
def _bomb() -> bytes:
    data = b'{"objects": [], "missing": ["1"], "pad": "' + b" " * (50 * MB)
    return gzip.compress(data, compresslevel=6)


def gzip_bomb(server: HostileServer, sock: socket.socket, request_line: str) -> None:
    """Answer 50 MB of JSON compressed to about 50 kB (``Content-Encoding: gzip``)."""
    body = _bomb()
    server.send(sock, _head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                                  "Content-Length": str(len(body)), "Connection": "close"}),
                body=False)
    server.send(sock, body)


def reset(server: HostileServer, sock: socket.socket, request_line: str) -> None:
    """Abort the connection (RST) instead of answering."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def half_answer_then_reset(server: HostileServer, sock: socket.socket, request_line: str) -> None:
    """Announce 1000 bytes, send 10, then abort the connection."""
    server.send(sock, _head(200, {"Content-Type": "application/json",
                                  "Content-Length": "1000"}), body=False)
    server.send(sock, b'{"objects"')
    reset(server, sock, request_line)


def _entry(pk: Any, **fields: Any) -> dict[str, Any]:
    return {"pk": pk, "str": f"Animal {pk}", "fields": {"common_name": "x", **fields}}


#: name -> (behaviour, error of API.md). Every scenario asks for pk "1" of testapp.animal.
SCENARIOS: dict[str, tuple[Callable, type[FederationError]]] = {
    "invalid_json": (answer(200, b'{"objects": [{"pk": 1, "str": '), ProtocolError),
    "not_json_at_all": (answer(200, b"<html>parked</html>", {"Content-Type": "text/html"}),
                        ProtocolError),
    "nan_constant": (answer(200, b'{"objects": [], "missing": [NaN]}'), ProtocolError),
    "json_list": (answer(200, [1, 2, 3]), ProtocolError),
    "objects_not_a_list": (answer(200, {"objects": "1", "missing": []}), ProtocolError),
    "pk_a_boolean": (answer(200, {"objects": [_entry(True)], "missing": []}), ProtocolError),
    "str_not_a_string": (answer(200, {"objects": [{**_entry(1), "str": 5}], "missing": []}),
                         ProtocolError),
    "fields_a_list": (answer(200, {"objects": [{**_entry(1), "fields": ["x"]}],
                                   "missing": []}), ProtocolError),
    "extra_key": (answer(200, {"objects": [_entry(1)], "missing": [], "sql": "DROP"}),
                  ProtocolError),
    # A vegetable (string pk) when an animal was asked for: a pk nobody asked for.
    "object_of_another_type": (answer(200, {"objects": [{"pk": "kale", "str": "Kale",
                                                         "fields": {"name": "kale"}}],
                                            "missing": ["1"]}), ProtocolError),
    "more_objects_than_asked": (answer(200, {"objects": [_entry(1), _entry(2)],
                                             "missing": []}), ProtocolError),
    "object_twice": (answer(200, {"objects": [_entry(1), _entry(1)], "missing": []}),
                     ProtocolError),
    "missing_and_found": (answer(200, {"objects": [_entry(1)], "missing": ["1"]}),
                          ProtocolError),
    "nothing_answered": (answer(200, {"objects": [], "missing": []}), ProtocolError),
    "huge_streamed_body": (stream(50 * MB, announce=False), ProtocolError),
    "huge_announced_body": (stream(50 * MB, announce=True), ProtocolError),
    "gzip_bomb": (gzip_bomb, ProtocolError),
    "drip_body": (drip(in_headers=False), PeerUnavailable),
    "drip_headers": (drip(in_headers=True), PeerUnavailable),
    "redirect_302": (answer(302, b"", {"Location": "http://127.0.0.1:9/federation/"}),
                     ProtocolError),
    "redirect_308": (answer(308, b"", {"Location": "/elsewhere/"}), ProtocolError),
    "burst_503": (answer(503, b"busy", {"Content-Type": "text/plain"}), PeerUnavailable),
    "burst_500": (answer(500, {"error": {"code": "server_error", "message": "x"}}),
                  ProtocolError),
    "connection_reset": (reset, PeerUnavailable),
    "reset_mid_body": (half_answer_then_reset, PeerUnavailable),
}

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    """Local rows that a bad answer must leave alone, and references to the peer's animal 1."""
    lion = Animal.objects.create(common_name="Lion", latin_name="Panthera leo")
    TaggedItem.objects.create(tag="local", content_object=lion)
    animal_on_b = GenericContentType.objects.get_for_remote("shop_b", "testapp", "animal")
    for tag in ("remote", "again"):
        TaggedItem.objects.create(tag=tag, content_type=animal_on_b, object_id="1")
    return lion


def peer_settings(url: str, on_error: str) -> dict[str, Any]:
    return {
        "PROJECT_NAME": "local_project",  # the suite's: the lion's type stays local
        "PEERS": {"shop_b": {"URL": url, "KEY": KEY}},
        "TIMEOUT": TIMEOUT,
        "CACHE_TTL": 0,  # every read asks the peer; nothing of a bad answer is kept
        "ON_REMOTE_ERROR": on_error,
    }


def _serve(name: str, on_error: str = "placeholder"):
    behaviour, error = SCENARIOS[name]
    if behaviour is gzip_bomb:
        _bomb()  # compressed before the request: the answer must not be late
    server = HostileServer(behaviour)
    reset_clients()
    return server, error, override_settings(FEDERATION=peer_settings(server.url, on_error))


def _assert_bounded(name: str, server: HostileServer, requests: int) -> None:
    """Assert what the client cost the peer: requests sent, bytes read."""
    if name == "burst_503":
        assert server.hits == 3 * requests  # retried twice, then given up
    else:
        assert server.hits == requests  # nothing else is retried (nor redirected)
    if name.startswith("huge"):
        # The client stopped reading: the 50 MB were never all written.
        assert server.sent < 30 * MB
    if name.startswith("drip"):
        # The client hung up long before the drip's end (400 bytes).
        assert server.sent < 200


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_client_gets_the_typed_error(rows, name):
    server, error, federation = _serve(name)
    before = snapshot()
    with server, federation:
        client = FederationClient("shop_b")
        with assert_num_requests(1):
            with pytest.raises(error) as info:
                client.fetch("testapp", "animal", ["1"])
        client.close()
        assert type(info.value) is error or issubclass(type(info.value), error)
        assert not isinstance(info.value, PeerUnavailable) or error is PeerUnavailable
        if name.startswith("huge") or name == "gzip_bomb":
            assert info.value.code == "too_large"  # refused for its size, decoded or not
    _assert_bounded(name, server, 1)
    assert snapshot() == before


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_foreign_key_read_gives_a_placeholder(rows, name):
    server, _error, federation = _serve(name, "placeholder")
    before = snapshot()
    with server, federation:
        item = TaggedItem.objects.get(tag="remote")
        target = item.content_object
        assert isinstance(target, RemoteObject)
        assert target.is_available is False
        assert "unavailable" in str(target)
        with pytest.raises(AttributeError):
            _ = target.common_name
        assert item.content_object is target and item.object_id == "1"
    _assert_bounded(name, server, 1)  # the placeholder is kept: asked once
    assert snapshot() == before


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_prefetch_raises_the_typed_error(rows, name):
    server, error, federation = _serve(name, "raise")
    before = snapshot()
    with server, federation:
        with capture_requests() as log, pytest.raises(error):
            list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
        # Both references to animal 1 were asked for in one request.
        assert len(log) == 1
    _assert_bounded(name, server, 1)
    assert snapshot() == before


def test_placeholder_prefetch_keeps_local_objects(rows):
    server, _error, federation = _serve("invalid_json", "placeholder")
    with server, federation:
        items = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
    objects = {item.tag: item.content_object for item in items}
    assert objects["local"] == rows  # the local lion is untouched by the peer's garbage
    assert not objects["remote"].is_available and not objects["again"].is_available
    assert server.hits == 1


def test_a_5xx_burst_is_retried_then_the_breaker_opens(rows):
    server, _error, federation = _serve("burst_503", "placeholder")
    before = snapshot()
    with server, federation:
        for attempt in range(1, 6):
            item = TaggedItem.objects.get(tag="remote")
            assert item.content_object.is_available is False
            # Three requests (each retried twice) open the circuit; then none is sent.
            assert server.hits == 3 * min(attempt, 3)
    assert snapshot() == before


@pytest.mark.parametrize("name", ["burst_500", "invalid_json", "redirect_302", "drip_body",
                                  "connection_reset", "huge_streamed_body"])
def test_every_kind_of_failure_opens_the_breaker(rows, name):
    server, _error, federation = _serve(name, "placeholder")
    with server, federation:
        for _ in range(5):
            assert TaggedItem.objects.get(tag="remote").content_object.is_available is False
        assert server.hits == 3


def test_a_redirect_reaches_no_other_server(rows):
    with HostileServer(answer(200, {"objects": [_entry(1)], "missing": []})) as target:
        redirect = answer(307, b"", {"Location": f"{target.url}objects/testapp/animal/batch/"})
        with HostileServer(redirect) as server:
            reset_clients()
            with override_settings(FEDERATION=peer_settings(server.url, "raise")):
                with pytest.raises(ProtocolError, match="redirect"):
                    _ = TaggedItem.objects.get(tag="remote").content_object.common_name
        assert (server.hits, target.hits) == (1, 0)
