"""Testing helpers: count the HTTP requests sent to peers, like ``assertNumQueries``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .signals import peer_request

__all__ = ["PeerRequest", "RequestLog", "assert_num_requests", "capture_requests"]


@dataclass(frozen=True)
class PeerRequest:
    """One HTTP request sent to a peer, as ``signals.peer_request`` reported it."""

    peer: str
    method: str
    path: str
    status: int | None


@dataclass
class RequestLog:
    """The requests seen inside ``capture_requests()`` (requests from every thread)."""

    requests: list[PeerRequest] = field(default_factory=list)

    def to(self, peer: str | None = None) -> list[PeerRequest]:
        """Return the requests sent to ``peer`` (every request when ``peer`` is None)."""
        return [request for request in self.requests if peer is None or request.peer == peer]

    def __len__(self) -> int:
        return len(self.requests)


@contextmanager
def capture_requests() -> Iterator[RequestLog]:
    """Record every request sent to a peer inside the block (the resolver's threads too)."""
    log = RequestLog()
    lock = threading.Lock()

    def receiver(
        sender: Any, *, peer: str, method: str, path: str, status: int | None, **kwargs: Any
    ) -> None:
        with lock:
            log.requests.append(PeerRequest(peer, method, path, status))

    peer_request.connect(receiver, weak=False)
    try:
        yield log
    finally:
        peer_request.disconnect(receiver)


@contextmanager
def assert_num_requests(n: int, peer: str | None = None) -> Iterator[RequestLog]:
    """Fail unless exactly ``n`` requests were sent to peers (or to ``peer``) in the block."""
    with capture_requests() as log:
        yield log
    sent = log.to(peer)
    if len(sent) != n:
        target = f"peer {peer!r}" if peer else "peers"
        lines = "\n".join(
            f"{i}. {r.method} {r.path} -> {r.peer} ({r.status})" for i, r in enumerate(sent, 1)
        )
        raise AssertionError(
            f"{len(sent)} requests were sent to {target}, expected {n}:\n{lines}".rstrip()
        )
