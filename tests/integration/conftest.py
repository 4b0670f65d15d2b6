"""Fixtures of the integration tests: real peer servers, each a process with its own database.

``peers`` (session) migrates one SQLite template database, copies it for each peer and
starts ``shop_a`` and ``shop_b`` with ``tests.integration.serve`` on free ports of
127.0.0.1. They always stop at the end of the session, also when a test or the start
fails. Both peers know this test process as ``local_project`` and deliver their deletion
events to it: it serves the federation endpoints on pytest-django's live server.
``federation`` configures this process to read from them for one test.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test.utils import override_settings

from federated_relations.client import reset_clients
from tests.integration.servers import PeerServer, free_port, migrate_template

LOCAL = "local_project"
KEYS = {"shop_a": "shared-secret-a", "shop_b": "shared-secret-b"}
EXPOSE = {
    "shop_a": {
        "library_app.Book": ["title", "price", "in_print"],
        "library_app.Shelf": ["label"],
        "library_app.Pamphlet": ["title"],
        "testapp.Animal": ["common_name"],
    },
    "shop_b": {"library_app.Book": ["title"]},
}

@pytest.fixture(scope="session")
def peers(request: pytest.FixtureRequest) -> Iterator[dict[str, PeerServer]]:
    """Start shop_a and shop_b (own databases, free ports); always stop them."""
    workdir = Path(tempfile.mkdtemp(prefix="fr-peers-"))
    servers: dict[str, PeerServer] = {}
    # The live server's static files handler needs a STATIC_URL (the suite sets none).
    static = override_settings(STATIC_URL="/static/")
    static.enable()
    try:
        request.getfixturevalue("django_db_setup")
        live_server = request.getfixturevalue("live_server")
        template = migrate_template(workdir)
        local_url = f"{live_server.url}/federation/"
        for name in ("shop_a", "shop_b"):
            federation = {
                "PROJECT_NAME": name,
                "PEERS": {LOCAL: {"URL": local_url, "KEY": KEYS[name]}},
                "EXPOSE": EXPOSE[name],
                "TIMEOUT": 5.0,
                "CACHE_TTL": 0,
            }
            server = servers[name] = PeerServer(name, workdir, federation)
            shutil.copyfile(template, server.db)
            server.start()
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()
        static.disable()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def seeded(peers: dict[str, PeerServer]) -> dict[str, Any]:
    """Objects on the peers, created once: return their pks."""
    shop_a, shop_b = peers["shop_a"], peers["shop_b"]
    books_a = shop_a.create(
        "library_app.Book",
        *({"title": f"A{i}", "price": f"{i}.50", "secret_note": "classified"}
          for i in range(1, 251)),
    )
    books_b = shop_b.create(
        "library_app.Book", *({"title": f"B{i}", "price": "1.00"} for i in range(1, 6))
    )
    shelf = shop_a.create("library_app.Shelf", {"code": "s-1", "label": "Top shelf"})
    pamphlet = shop_a.create("library_app.Pamphlet", {"title": "Leaflet"})
    animals = shop_a.create(
        "testapp.Animal", {"common_name": "Remote lion", "latin_name": "Panthera leo"}
    )
    return {
        "books_a": books_a, "books_b": books_b, "shelf": shelf[0],
        "pamphlet": pamphlet[0], "animal": animals[0],
    }


@pytest.fixture
def federation(
    peers: dict[str, PeerServer],
    seeded: dict[str, Any],
    transactional_db: None,
    settings: Any,
) -> Iterator[dict[str, PeerServer]]:
    """Make this process read from the peers (and a peer that is down) for one test.

    Transactional: the live server (another thread, on PostgreSQL another connection)
    must see what the test wrote.
    """
    settings.FEDERATION = {
        "PROJECT_NAME": LOCAL,
        "PEERS": {
            "shop_a": {"URL": peers["shop_a"].url, "KEY": KEYS["shop_a"]},
            "shop_b": {"URL": peers["shop_b"].url, "KEY": KEYS["shop_b"]},
            "shop_down": {"URL": f"http://127.0.0.1:{free_port()}/federation/", "KEY": "k"},
        },
        "TIMEOUT": 1.0,
        "CACHE_TTL": 300,
    }
    settings.ROOT_URLCONF = "tests.integration.client_urls"
    # What pytest-django's live_server helper adds for tests that request it directly.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost", "127.0.0.1"]
    reset_clients()
    cache.clear()
    for server in peers.values():
        server.control()
    yield peers
    for server in peers.values():
        server.control()
    reset_clients()
    cache.clear()
