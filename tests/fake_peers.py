"""In-process fake peers for the unit tests of the resolver and remote objects.

``FakeClient`` has the interface of ``federated_relations.client.FederationClient`` that
the resolver uses (``fetch``, ``list``, ``discover``, ``send_events``) and sends
``signals.peer_request`` like the real one, so ``assert_num_requests`` counts its calls.
The integration tests use real servers instead.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from federated_relations import resolver
from federated_relations.exceptions import FederationError, PeerUnavailable
from federated_relations.signals import peer_request

__all__ = ["FakeClient", "FakePeers", "PEERS_SETTING", "fake_peers"]

PEERS_SETTING = {
    "shop_b": {"URL": "http://127.0.0.1:9/b/", "KEY": "key-b"},
    "shop_c": {"URL": "http://127.0.0.1:9/c/", "KEY": "key-c"},
}


class FakeClient:
    """A peer that answers from a dict: ``objects[(app_label, model)][pk string] = entry``."""

    def __init__(self, peer: str, max_batch: int = 500) -> None:
        self.peer = peer
        self.objects: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.error: FederationError | None = None
        self.delay = 0.0
        self.answer: Any = None  # replaces the batch answer when set (garbage tests)
        self.max_batch_size = max_batch
        self.events: list[dict[str, Any]] = []
        self.discovered = False

    def add(self, app_label: str, model: str, pk: Any, text: str, **fields: Any) -> None:
        """Make an object exist on this peer."""
        self.objects.setdefault((app_label, model), {})[str(pk)] = {
            "pk": pk, "str": text, "fields": fields,
        }

    def _request(self, method: str, path: str) -> None:
        if self.delay:
            time.sleep(self.delay)
        status = None if isinstance(self.error, PeerUnavailable) else 200
        if self.error is not None and status is not None:
            status = 403
        peer_request.send(type(self), peer=self.peer, method=method, path=path, status=status)
        self.calls.append((method, path))
        if self.error is not None:
            raise self.error

    def max_batch(self) -> int:
        return self.max_batch_size

    def discover(self) -> dict[str, Any]:
        # The real client asks once and keeps the answer; the types here stay current.
        if not self.discovered:
            self._request("GET", "types/")
            self.discovered = True
        return {
            "protocol": 1,
            "project": self.peer,
            "max_batch": self.max_batch_size,
            "types": [
                {"app_label": a, "model": m, "fields": ["name"]} for a, m in sorted(self.objects)
            ],
        }

    def fetch(self, app_label: str, model: str, pks: list[str]) -> dict[str, Any]:
        table = self.objects.get((app_label, model), {})
        objects: list[dict[str, Any]] = []
        missing: list[str] = []
        for start in range(0, len(pks), self.max_batch_size):
            self._request("POST", f"objects/{app_label}/{model}/batch/")
            for pk in pks[start:start + self.max_batch_size]:
                if pk in table:
                    objects.append(table[pk])
                else:
                    missing.append(pk)
        if self.answer is not None:
            return self.answer
        return {"objects": objects, "missing": missing}

    def list(
        self,
        app_label: str,
        model: str,
        *,
        cursor: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        self._request("GET", f"objects/{app_label}/{model}/")
        rows = [
            entry
            for _pk, entry in sorted(self.objects.get((app_label, model), {}).items())
            if all(entry["fields"].get(k) == v for k, v in (filters or {}).items())
        ]
        start = int(cursor or 0)
        size = limit or 2
        page = rows[start:start + size]
        following = start + size
        return {"objects": page, "next": str(following) if following < len(rows) else None}

    def send_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        self._request("POST", "events/")
        self.events.extend(events)
        return {"accepted": [event["id"] for event in events]}


class FakePeers(dict):
    """``{peer name: FakeClient}``; a name that is absent is not configured."""

    def client(self, peer: str) -> FakeClient:
        try:
            return self[peer]
        except KeyError:
            raise PeerUnavailable(f"No peer named {peer!r} is configured.") from None


@pytest.fixture
def fake_peers(settings: Any, monkeypatch: pytest.MonkeyPatch) -> FakePeers:
    """Configure peers shop_b and shop_c, answered in-process, and an empty cache."""
    from django.core.cache import cache

    settings.FEDERATION = {
        "PROJECT_NAME": "local_project",
        "PEERS": PEERS_SETTING,
        "CACHE_TTL": 300,
    }
    cache.clear()
    peers = FakePeers(shop_b=FakeClient("shop_b"), shop_c=FakeClient("shop_c"))
    monkeypatch.setattr(resolver, "_client", peers.client)
    yield peers
    cache.clear()
