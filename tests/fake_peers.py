"""In-process fake peers for the unit tests: the real client, answered from memory.

A ``FakePeer`` answers the endpoints of the peer protocol (``docs/protocol.md``) from a dict
of objects. The ``fake_peers`` fixture replaces the session factory of
``federated_relations.client`` with one whose transport (``FakeNetwork``) hands each
request to the fake peer at its URL, so every ``FederationClient`` of the test is real:
signed requests, status mapping, circuit breaker, ``signals.peer_request`` (what
``assert_num_requests`` counts) and the protocol's validation of every answer. The
integration tests use real servers instead.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from requests.adapters import BaseAdapter

from federated_relations import client as client_module
from federated_relations.client import reset_clients
from federated_relations.conf import federated_settings
from federated_relations.exceptions import FederationError, PeerAuthError, PeerUnavailable
from federated_relations.protocol import (
    PROTOCOL_VERSION,
    MalformedEvent,
    filter_text,
    validate_event,
)
from tests.library_app.transport import make_response, session_with

__all__ = ["FakeNetwork", "FakePeer", "FakePeers", "PEERS_SETTING", "fake_peers"]

PEERS_SETTING = {
    "shop_b": {"URL": "http://127.0.0.1:9/b/", "KEY": "key-b"},
    "shop_c": {"URL": "http://127.0.0.1:9/c/", "KEY": "key-c"},
}

#: An answer: (HTTP status, JSON body).
Answer = tuple[int, Any]


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"error": {"code": code, "message": message}}


class FakePeer:
    """A peer that answers from a dict: ``objects[(app_label, model)][pk string] = entry``.

    ``error``: every request fails with it (``PeerUnavailable``: the connection fails;
    ``PeerAuthError``: 403; any other: its ``status`` and ``code``, else 500).
    ``answer``: sent instead of every batch answer (garbage tests). ``delay``: seconds
    each request takes. ``max_batch``: the cap its discovery announces and its batch
    lookups and events enforce (413 ``too_many``). ``calls`` and ``events`` record the
    requests and the events received.
    """

    #: Objects per listing page without ``limit``: small, so that paging is exercised.
    page_size = 2

    def __init__(self, peer: str, max_batch: int = 500) -> None:
        self.peer = peer
        self.objects: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.calls: list[tuple[str, str]] = []
        self.error: FederationError | None = None
        self.delay = 0.0
        self.answer: Any = None
        self.max_batch = max_batch
        self.events: list[dict[str, Any]] = []

    def add(self, app_label: str, model: str, pk: Any, text: str, **fields: Any) -> None:
        """Make an object exist on this peer."""
        self.objects.setdefault((app_label, model), {})[str(pk)] = {
            "pk": pk, "str": text, "fields": fields,
        }

    def handle(self, method: str, path: str, query: str, body: bytes) -> Answer:
        """Answer one request to ``path`` (relative to the peer's URL)."""
        if self.delay:
            time.sleep(self.delay)
        self.calls.append((method, path))
        if self.error is not None:
            return self.failure(self.error)
        parts = path.split("/")
        if (method, path) == ("GET", "types/"):
            return 200, self.discovery()
        if method == "POST" and len(parts) == 5 and parts[0] == "objects" and parts[3] == "batch":
            return self.batch(parts[1], parts[2], json.loads(body)["pks"])
        if method == "GET" and len(parts) == 4 and parts[0] == "objects":
            return self.listing(parts[1], parts[2], dict(parse_qsl(query, keep_blank_values=True)))
        if (method, path) == ("POST", "events/"):
            return self.take_events(json.loads(body)["events"])
        return _error(404, "not_exposed", "There is no such endpoint.")

    def failure(self, error: FederationError) -> Answer:
        """Fail the request as ``error`` says (see the class)."""
        if isinstance(error, PeerUnavailable):
            raise requests.ConnectionError(str(error))
        if isinstance(error, PeerAuthError):
            return _error(403, "bad_signature", str(error))
        status = getattr(error, "status", None) or 500
        return _error(status, getattr(error, "code", None) or "server_error", str(error))

    def discovery(self) -> dict[str, Any]:
        """Return the discovery: the types that have objects, with their fields."""
        types = []
        for (app_label, model), table in sorted(self.objects.items()):
            fields = dict.fromkeys(name for entry in table.values() for name in entry["fields"])
            types.append({"app_label": app_label, "model": model, "fields": list(fields)})
        return {
            "protocol": PROTOCOL_VERSION,
            "project": self.peer,
            "max_batch": self.max_batch,
            "types": types,
        }

    def batch(self, app_label: str, model: str, pks: list[str]) -> Answer:
        """Answer a batch lookup: the objects of ``pks`` that exist and the others."""
        if len(pks) > self.max_batch:
            return _error(413, "too_many", f"At most {self.max_batch} pks per request.")
        if self.answer is not None:
            return 200, self.answer
        table = self.objects.get((app_label, model), {})
        wanted = list(dict.fromkeys(pks))
        return 200, {
            "objects": [table[pk] for pk in wanted if pk in table],
            "missing": [pk for pk in wanted if pk not in table],
        }

    def listing(self, app_label: str, model: str, params: dict[str, str]) -> Answer:
        """Answer one page of the objects whose fields equal the filters, in pk order."""
        if "search" in params:
            return _error(400, "search_not_exposed", "This type cannot be searched.")
        size = int(params.pop("limit", self.page_size))
        start = int(params.pop("cursor", 0))
        rows = [
            entry
            for _pk, entry in sorted(self.objects.get((app_label, model), {}).items())
            if all(_filter_matches(entry["fields"], name, raw) for name, raw in params.items())
        ]
        following = start + size
        return 200, {
            "objects": rows[start:following],
            "next": str(following) if following < len(rows) else None,
        }

    def take_events(self, events: list[Any]) -> Answer:
        """Record the events and accept them all, refusing malformed ones as the views do."""
        if len(events) > self.max_batch:
            return _error(413, "too_many", f"At most {self.max_batch} events per request.")
        lengths = {"app_label": 100, "model": 100}
        try:
            received = [validate_event(event, name_lengths=lengths) for event in events]
        except MalformedEvent as error:
            return _error(400, "bad_event", str(error))
        self.events.extend(received)
        return 200, {"accepted": [event["id"] for event in received]}


def _filter_matches(fields: dict[str, Any], name: str, raw: str) -> bool:
    """Whether the field ``name`` holds the value the client sent as ``raw``."""
    try:
        return name in fields and filter_text(name, fields[name]) == raw
    except ValueError:  # null or a collection: no filter can match it
        return False


class FakePeers(dict):
    """``{peer name: FakePeer}``; a configured peer that is absent refuses connections."""


class FakeNetwork(BaseAdapter):
    """A ``requests`` transport that hands each request to the fake peer at its URL."""

    def __init__(self, peers: FakePeers) -> None:
        super().__init__()
        self.peers = peers

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        """Answer ``request`` as the fake peer whose ``PEERS`` URL it starts with."""
        url = request.url or ""
        for name, peer in federated_settings.PEERS.items():
            if url.startswith(peer["URL"]) and name in self.peers:
                parts = urlsplit(url[len(peer["URL"]):])
                body = request.body or b""
                status, data = self.peers[name].handle(
                    request.method or "GET", parts.path, parts.query,
                    body.encode() if isinstance(body, str) else body,
                )
                content = json.dumps(data, cls=DjangoJSONEncoder).encode()
                return make_response(
                    request, status, content, {"Content-Type": "application/json"}
                )
        raise requests.ConnectionError(ConnectionRefusedError(f"Nothing listens at {url}."))

    def close(self) -> None:
        """Release nothing: no connections are held."""


@pytest.fixture
def fake_peers(settings: Any, monkeypatch: pytest.MonkeyPatch) -> FakePeers:
    """Configure peers shop_b and shop_c, answered in-process, and an empty cache."""
    settings.FEDERATION = {
        "PROJECT_NAME": "local_project",
        "PEERS": PEERS_SETTING,
        "CACHE_TTL": 300,
    }
    cache.clear()
    fakes = FakePeers(shop_b=FakePeer("shop_b"), shop_c=FakePeer("shop_c"))
    network = FakeNetwork(fakes)
    monkeypatch.setattr(client_module, "_default_session", lambda pool_size: session_with(network))
    reset_clients()  # no client built on another session is reused
    yield fakes
    reset_clients()
    cache.clear()
