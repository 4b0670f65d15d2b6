"""The production profile works: gunicorn workers share one Redis cache of remote objects.

Two servers, each ``gunicorn -w 4`` on PostgreSQL with ``RedisCache`` (``conftest.py``):
every worker answers, the client's page renders the peer's 100 books, and once one
worker rendered it the others render it from Redis without asking the peer.
"""

from __future__ import annotations

import pytest

from tests.production.servers import PAGE_SIZE, WORKERS

pytestmark = [pytest.mark.integration, pytest.mark.production]


def test_each_server_answers_from_four_gunicorn_workers(production):
    for server in (production.client, production.peer):
        workers = server.workers()
        assert len(workers) == WORKERS, (workers, server.log())
        assert set(workers.values()) == {server.process.pid}


def test_the_page_renders_the_peers_objects_then_every_worker_reads_them_from_redis(
    production,
):
    production.reset()
    cold = production.burst(1)
    (page,) = cold.pages
    assert [pk for pk, _, _ in page.items] == production.book_pks
    assert all(available for _, available, _ in page.items), page.items
    titles = [text for _, _, text in page.items]
    assert titles == [f"Peer book {i:03}" for i in range(1, PAGE_SIZE + 1)]
    assert cold.peer_requests["POST objects/library_app/book/batch/"] >= 1, cold.peer_requests

    # The other workers have never rendered it: they read what the first one cached.
    warm = production.burst(2 * WORKERS, hold=0.2)
    assert warm.peer_requests.total() == 0, warm.peer_requests
    assert all(rendered.items == page.items for rendered in warm.pages)
    assert {rendered.pid for rendered in warm.pages} - {page.pid}, "one worker took them all"

    keys = production.client.cache_keys()
    for pk in production.book_pks:
        assert any(key.endswith(f":federated_relations:v1:peer:library_app:book:{pk}")
                   for key in keys), (pk, keys[:5])
