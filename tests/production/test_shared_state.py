"""The workers of a server learn once: single flight and one circuit breaker per server.

The client server runs 4 gunicorn workers on one Redis (``conftest.py``). Concurrent cold
renderings of a page, spread over its workers, cost the peer one batch request per (type,
page); a dead peer (nothing listens at its port) is asked ``failure_threshold`` times by
the whole server before every worker skips it, not that many times per worker.
"""

from __future__ import annotations

from collections import Counter

import pytest

from federated_relations.client import FederationClient
from tests.production.servers import PAGE_SIZE, WORKERS

pytestmark = [pytest.mark.integration, pytest.mark.production]

BATCH = "POST objects/library_app/book/batch/"


def test_concurrent_cold_renderings_over_the_workers_send_one_request_per_page(production):
    production.reset()
    production.peer.control(delay=0.3)  # the first request is still out when the others ask
    burst = production.burst(2 * WORKERS)
    production.peer.control()
    assert burst.peer_requests[BATCH] == 1, burst.peer_requests  # PAGE_SIZE < max_batch
    assert burst.peer_requests.total() == 1, burst.peer_requests
    assert len({page.pid for page in burst.pages}) > 1, "one worker took them all"
    for page in burst.pages:
        assert [pk for pk, _, _ in page.items] == production.book_pks
        assert all(available for _, available, _ in page.items), page.items


def test_a_dead_peer_is_asked_threshold_times_by_the_whole_server(production):
    production.reset()  # the breaker's state is in the shared cache: closed again
    threshold = FederationClient.failure_threshold
    before = Counter(production.client.sent())
    pages = []
    for _ in range(threshold + 3):  # each burst is cold: errors are never cached
        pages += production.burst(2 * WORKERS, project="dead").pages
    sent = Counter(production.client.sent()) - before
    assert sent.total() == threshold, sent  # per worker it would be up to threshold x 4
    assert set(sent) == {"dead POST objects/library_app/book/batch/"}, sent
    assert len({page.pid for page in pages}) > 1, "one worker took them all"
    for page in pages:
        assert len(page.items) == PAGE_SIZE
        assert not any(available for _, available, _ in page.items), page.items[:3]
