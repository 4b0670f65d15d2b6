"""Fixtures of the production-profile tests: two gunicorn servers on PostgreSQL and Redis.

``production`` (session) migrates one template database on ``DATABASE_URL``'s server,
copies it for each server, and starts ``peer`` (150 exposed books) and ``client`` (100
bookmarks of them, the page of ``urls.page``, and 100 of books of ``dead``, a peer that
nothing answers at: its port is closed), each as ``gunicorn -w 4`` on a free port of
127.0.0.1, sharing ``REDIS_URL``'s Redis under a key prefix per server. They always stop
at the end of the session, also when a test or the start fails, and their databases and
keys are deleted.

It needs ``FR_DB=postgres`` (the PostgreSQL pass of ``run_tests.sh``) and ``REDIS_URL``
(``run_tests.sh`` starts a throwaway ``redis-server``); without them the tests skip, but
a missing Redis fails them in CI (``CI=true``), where ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from tests.integration.servers import free_port
from tests.production.servers import (
    PAGE_SIZE,
    GunicornServer,
    Profile,
    clone_database,
    create_database,
    drop_database,
)

KEY = "production-secret"
BOOKS = 150


def _redis_url() -> str:
    """Return ``REDIS_URL`` once Redis answers; skip (fail in CI) when it is not set."""
    url = os.environ.get("REDIS_URL")
    if not url:
        reason = (
            "needs Redis: set REDIS_URL, or install redis-server (Debian package) for "
            "run_tests.sh to start one"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with redis.Redis.from_url(url, socket_timeout=5) as client:
        client.ping()
    return url


@pytest.fixture(scope="session")
def production() -> Iterator[Profile]:
    """Start the client and the peer (4 workers each, own databases); always stop them."""
    if os.environ.get("FR_DB") != "postgres":
        pytest.skip("needs PostgreSQL (FR_DB=postgres and DATABASE_URL: run_tests.sh --postgres)")
    redis_url = _redis_url()
    run = uuid.uuid4().hex[:8]
    base = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/") or "federated_relations"
    workdir = Path(tempfile.mkdtemp(prefix="fr-production-"))
    ports = {"client": free_port(), "peer": free_port(), "dead": free_port()}
    federations = {
        "peer": {
            "PROJECT_NAME": "peer",
            "PEERS": {"client": {"URL": f"http://127.0.0.1:{ports['client']}/federation/",
                                 "KEY": KEY}},
            "EXPOSE": {"library_app.Book": ["title", "price"]},
            "TIMEOUT": 5.0,
        },
        "client": {
            "PROJECT_NAME": "client",
            "PEERS": {"peer": {"URL": f"http://127.0.0.1:{ports['peer']}/federation/",
                               "KEY": KEY},
                      "dead": {"URL": f"http://127.0.0.1:{ports['dead']}/federation/",
                               "KEY": KEY}},
            "TIMEOUT": 5.0,
            "CACHE_ALIAS": "default",
            "CACHE_TTL": 300,
        },
    }
    servers = {
        name: GunicornServer(
            name, workdir, federation, database=f"{base}_{run}_{name}",
            redis_url=redis_url, key_prefix=f"fr-prod-{run}-{name}", port=ports[name],
        )
        for name, federation in federations.items()
    }
    template = GunicornServer(
        "template", workdir, {"PROJECT_NAME": "template"}, database=f"{base}_{run}_template",
        redis_url=redis_url, key_prefix=f"fr-prod-{run}-template", port=0,
    )
    created: list[str] = []
    try:
        create_database(template.database)
        created.append(template.database)
        template.manage("migrate", "--noinput", "-v", "0")
        for server in servers.values():
            clone_database(template.database, server.database)
            created.append(server.database)
        drop_database(template.database)
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_ready()
        peer, client = servers["peer"], servers["client"]
        pks = peer.create(
            "library_app.Book",
            *({"title": f"Peer book {i:03}", "price": f"{i}.00"} for i in range(1, BOOKS + 1)),
        )
        client.refer("peer", "library_app.Book", pks[:PAGE_SIZE])
        client.refer("dead", "library_app.Book", [str(pk) for pk in range(1, PAGE_SIZE + 1)])
        profile = Profile(client=client, peer=peer, book_pks=pks[:PAGE_SIZE])
        profile.reset()
        yield profile
    finally:
        for server in servers.values():
            server.stop()
        for name in created:
            drop_database(name)
        with redis.Redis.from_url(redis_url) as keys:
            doomed = list(keys.scan_iter(match=f"fr-prod-{run}-*", count=1000))
            if doomed:
                keys.delete(*doomed)
        shutil.rmtree(workdir, ignore_errors=True)
