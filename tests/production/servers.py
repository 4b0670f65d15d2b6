"""Production-profile servers: gunicorn, 4 sync workers each, on PostgreSQL and Redis.

``GunicornServer`` is an integration ``PeerServer`` (its ``_test/`` controls, its log)
served by gunicorn with ``tests.production.settings``: its own database on
``DATABASE_URL``'s server and ``RedisCache`` under its own key prefix.
``Profile`` is the pair the tests use, a client whose page renders ``PAGE_SIZE`` of the
peer's books, with ``burst()`` to render it concurrently and count what the peer served.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import psycopg
import redis
import requests

from tests.integration.servers import ROOT, START_TIMEOUT, PeerServer
from tests.production import PAGE_SIZE

__all__ = [
    "PAGE_SIZE", "WORKERS", "Burst", "GunicornServer", "Page", "Profile",
    "clone_database", "create_database", "drop_database",
]

WORKERS = 4
_ITEM = re.compile(r'<li data-pk="([^"]*)" data-available="([01])">(.*?)</li>')


class GunicornServer(PeerServer):
    """A server run as ``gunicorn -w 4`` (sync workers) on 127.0.0.1:``port``.

    ``worker_count`` other than 4 is for the benchmark's comparison (1 worker vs 4).
    """

    def __init__(
        self, name: str, workdir: Path, federation: dict[str, Any], *,
        database: str, redis_url: str, key_prefix: str, port: int, worker_count: int = WORKERS,
    ) -> None:
        super().__init__(name, workdir, federation)
        self.worker_count = worker_count
        self.database = database
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self.port = port  # known before the start: peers are configured with its URL

    def environ(self) -> dict[str, str]:
        """Return the environment of ``tests.production.settings`` for this server."""
        return {
            **super().environ(),
            "DJANGO_SETTINGS_MODULE": "tests.production.settings",
            "FR_DB": "postgres",
            "FR_PEER_PG_DB": self.database,
            "REDIS_URL": self.redis_url,
            "FR_PROD_KEY_PREFIX": self.key_prefix,
        }

    def start(self) -> None:
        """Start the gunicorn master; ``wait_ready()`` waits for its workers."""
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn",
                "--workers", str(self.worker_count), "--worker-class", "sync",
                "--bind", f"127.0.0.1:{self.port}",
                # Stopped within PeerServer.stop's 5 s; an orphaned worker exits in 15 s.
                "--graceful-timeout", "3", "--timeout", "30",
                "--config", "python:tests.production.gunicorn_config",
                "tests.production.wsgi",
            ],
            cwd=ROOT, env=self.environ(), stdout=subprocess.PIPE, stderr=self._log,
            stdin=subprocess.DEVNULL, text=True,
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until every worker loaded Django (``READY <pid>`` on stdout), then answers.

        The master listens before any worker can serve: a request sent then would wait in
        the backlog, so readiness is the workers' own word.
        """
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        ready: list[str] = []

        def read() -> None:
            while len(ready) < self.worker_count and (line := stdout.readline()):
                if line.startswith("READY "):
                    ready.append(line)

        reader = threading.Thread(target=read, daemon=True)
        started = time.monotonic()
        reader.start()
        reader.join(timeout)
        if len(ready) < self.worker_count:
            raise RuntimeError(
                f"{self.name}: {len(ready)} of {self.worker_count} gunicorn workers started "
                f"within {time.monotonic() - started:.0f} s:\n{self.log()}"
            )
        self.session.get(self.base + "_test/control/", timeout=30).raise_for_status()

    def manage(self, *args: str, timeout: float = 300) -> None:
        """Run ``python -m django ARGS`` with this server's settings; raise if it fails."""
        result = subprocess.run(
            [sys.executable, "-m", "django", *args], cwd=ROOT, env=self.environ(),
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        if result.returncode:
            raise RuntimeError(f"{args[0]} failed:\n{result.stdout}\n{result.stderr}")

    def refer(self, project: str, label: str, pks: list[str]) -> int:
        """Bookmark a peer's objects here (in this order); return how many."""
        payload = {"project": project, "label": label, "pks": pks}
        return self._post("_test/refer/", payload)["bookmarks"]

    def workers(self, hold: float = 0.2, bursts: int = 5) -> dict[int, int]:
        """Return ``{worker pid: its parent's pid}`` of the workers that answered bursts.

        Each request holds its worker ``hold`` seconds, so that a burst's requests are
        taken by different workers; bursts go on until every worker answered (at most
        ``bursts``: a loaded machine may be slow to wake one).
        """
        seen: dict[int, int] = {}
        for _ in range(bursts):
            answers = _concurrently(
                2 * self.worker_count, lambda _: requests.get(
                    self.base + "_test/worker/", params={"hold": hold}, timeout=30
                ).json(),
            )
            seen.update((answer["pid"], answer["master"]) for answer in answers)
            if len(seen) >= self.worker_count:
                break
        return seen

    def sent(self) -> dict[str, int]:
        """Return ``{"PEER METHOD endpoint": count}`` of the requests sent to peers."""
        return self.session.get(self.base + "_test/control/", timeout=10).json()["sent"]

    def cache_keys(self) -> list[str]:
        """Return this server's keys in Redis (``RedisCache``'s, ``<prefix>:<version>:…``)."""
        with redis.Redis.from_url(self.redis_url, decode_responses=True) as client:
            return list(client.scan_iter(match=f"{self.key_prefix}:*", count=1000))

    def clear_cache(self) -> None:
        """Delete this server's cache in Redis (what every worker shares)."""
        keys = self.cache_keys()
        if keys:
            with redis.Redis.from_url(self.redis_url) as client:
                client.delete(*keys)


@dataclass(frozen=True)
class Page:
    """A rendering of the client's page: the worker that rendered it and its items."""

    pid: int
    items: list[tuple[str, bool, str]]  # (pk, available, what str() of the target gave)


class Burst(NamedTuple):
    """Pages rendered at once, and the federation requests the peer served meanwhile."""

    pages: list[Page]
    peer_requests: Counter[str]  # {"METHOD endpoint": count}; .total() sums them


@dataclass
class Profile:
    """The client and the peer, both up; the client's page references ``book_pks``."""

    client: GunicornServer
    peer: GunicornServer
    book_pks: list[str]

    def page(self, hold: float = 0.0, project: str = "") -> Page:
        """Render the client's page once (``hold``: keep its worker busy that long after;
        ``project``: only the references to that peer's objects)."""
        response = requests.get(
            self.client.base + "page/", params={"hold": hold, "project": project}, timeout=60
        )
        response.raise_for_status()
        items = [
            (pk, available == "1", html.unescape(text))
            for pk, available, text in _ITEM.findall(response.text)
        ]
        return Page(int(response.headers["X-Worker-Pid"]), items)

    def burst(self, n: int, hold: float = 0.0, project: str = "") -> Burst:
        """Render the page ``n`` times at once (released together); count the peer's work.

        The count is of every federation request the peer's workers served while the
        pages rendered: ``burst(8).peer_requests.total()`` on a cold cache is what a
        thundering herd costs.
        """
        before = Counter(self.peer.served())
        release = threading.Barrier(n)

        def render(_: int) -> Page:
            release.wait(timeout=30)
            return self.page(hold, project)

        pages = _concurrently(n, render)
        return Burst(pages, Counter(self.peer.served()) - before)

    def reset(self) -> None:
        """Empty the client's shared cache and reset the peer's counters and misbehaviour.

        The shared cache holds the peers' discoveries and circuit breakers too: they start
        afresh. What each worker keeps in its own memory (its HTTP clients and the
        discoveries they read) is not reset.
        """
        self.client.clear_cache()
        self.peer.control()


def _concurrently(n: int, call: Any) -> list[Any]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


# --- databases on DATABASE_URL's server -----------------------------------------------------


@contextmanager
def _admin() -> Iterator[psycopg.Connection]:
    url = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(
        host=url.hostname, port=url.port, user=url.username or "postgres",
        password=url.password or None, dbname="postgres", autocommit=True,
    ) as connection:
        yield connection


def create_database(name: str) -> None:
    """Create an empty database ``name`` (dropping one left by an earlier run)."""
    with _admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def clone_database(template: str, name: str) -> None:
    """Create database ``name`` as a copy of ``template`` (migrated once for all servers)."""
    with _admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def drop_database(name: str) -> None:
    """Drop database ``name``, closing what is still connected to it."""
    with _admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
