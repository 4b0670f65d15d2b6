"""Several processes writing the same relations at once, on PostgreSQL: nothing lost, no twin.

Real processes (forked from the test process, each with its own database connection)
work on committed rows of the test database (``transaction=True``): they add, remove and
clear the same local and remote targets (in random orders) on the same sources of a
``FederatedManyToManyField`` at the same time, then, after a barrier, every process adds
every target. The unique (source, type, object id) constraint plus ``INSERT ... ON
CONFLICT DO NOTHING`` must make the racing adds end with exactly one row per pair, with no
``IntegrityError`` surfacing and no row lost. The remote types the processes use are
created on demand by all of them at once (``get_for_remote``): one row each.

SQLite is skipped: its test database is in memory, private to one process.

The deletion outbox, with real server processes (``tests/integration`` peers on their own
SQLite databases, so on both backends): a receiver that is down when objects are deleted
gets every event once it is back, across a crash (SIGKILL) and restart of the sender; an
event sent again after a crash between the receiver's commit and the sender's is applied
once.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import sqlite3
import traceback
from collections import Counter

import pytest
from django.db import connection, connections

from federated_relations.models import GenericContentType
from federated_relations.remote import remote
from tests.m2m_app.models import Movie, User

PROCESSES = 4
ROUNDS = 80
SOURCES = 3
LOCAL_TARGETS = 4
REMOTE_PKS = range(1, 5)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the processes share one database")


def _targets():
    movies = list(Movie.objects.order_by("pk"))
    remotes = [remote(project, "library_app.Book", pk)
               for project in ("shop_b", "shop_c") for pk in REMOTE_PKS]
    return movies + remotes


def _churn(seed: int, barrier, rounds: int) -> None:
    """Race on the relations, then (after the barrier) add every target to every source."""
    try:
        rng = random.Random(seed)
        GenericContentType.objects.clear_cache()
        barrier.wait(30)
        # All processes create the same remote types now, at once.
        targets = _targets()
        users = list(User.objects.order_by("pk"))
        for _ in range(rounds):
            user = rng.choice(users)
            chosen = rng.sample(targets, rng.randint(1, len(targets)))
            # Not set(): like Django's, it removes then adds in one transaction, and two
            # of those can deadlock on PostgreSQL (one is aborted, nothing half-done);
            # docs/security.md, "Known limits".
            operation = rng.choice(["add", "add", "remove", "clear"])
            if operation == "add":
                user.preferred_videos.add(*chosen)
            elif operation == "remove":
                user.preferred_videos.remove(*chosen)
            else:
                user.preferred_videos.clear()
        barrier.wait(30)
        for user in users:
            user.preferred_videos.add(*targets)
        barrier.wait(30)
        # And all at once again, adding what is already there.
        for user in users:
            user.preferred_videos.add(*reversed(targets))
    except BaseException:
        traceback.print_exc()
        connections.close_all()
        os._exit(1)
    connections.close_all()
    os._exit(0)


def _run_processes(target, count: int, *args) -> list[int]:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(count)
    connections.close_all()  # no connection is shared with the children
    processes = [context.Process(target=target, args=(seed, barrier, *args))
                 for seed in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(180)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    return [process.exitcode for process in processes]


def test_racing_adds_and_removes_lose_nothing_and_duplicate_nothing(postgres, settings):
    settings.FEDERATION = {
        **settings.FEDERATION,
        "PEERS": {
            "shop_b": {"URL": "http://127.0.0.1:9/b/", "KEY": "kb"},
            "shop_c": {"URL": "http://127.0.0.1:9/c/", "KEY": "kc"},
        },
    }
    for _ in range(SOURCES):
        User.objects.create()
    for _ in range(LOCAL_TARGETS):
        Movie.objects.create()

    assert _run_processes(_churn, PROCESSES, ROUNDS) == [0] * PROCESSES

    through = User.preferred_videos.through
    rows = list(through.objects.values_list("user_id", "content_type_id", "object_id"))
    pairs = Counter(rows)
    assert max(pairs.values()) == 1  # no duplicate
    expected_targets = LOCAL_TARGETS + 2 * len(REMOTE_PKS)
    assert len(rows) == SOURCES * expected_targets  # no lost row
    remote_types = GenericContentType.objects.filter(
        project__in=["shop_b", "shop_c"], app_label="library_app", model="book"
    )
    assert remote_types.count() == 2  # created by four processes at once, once each
    for user in User.objects.all():
        stored = {(ct, object_id) for user_id, ct, object_id in rows if user_id == user.pk}
        assert len(stored) == expected_targets


# -- the deletion outbox across restarts (real processes) ---------------------------------

SERVE_ON_PORT = """
import signal, sys
import django
django.setup()
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
server = ThreadedWSGIServer(("127.0.0.1", int(sys.argv[1])), Quiet, allow_reuse_address=True)
server.set_app(get_wsgi_application())
signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever(poll_interval=0.1)
"""


class Peer:
    """A peer process that comes back on the same port (and database) after a stop or crash."""

    def __init__(self, name, workdir, federation, template, port):
        from tests.integration.servers import PeerServer

        self.name = name
        self.port = port
        self.server = PeerServer(name, workdir, federation)
        shutil.copyfile(template, self.server.db)

    def start(self):
        import subprocess
        import sys

        server = self.server
        server._log = open(server.log_path, "a")  # noqa: SIM115 - closed by stop()
        server.process = subprocess.Popen(
            [sys.executable, "-c", SERVE_ON_PORT, str(self.port)],
            cwd=server.environ()["PYTHONPATH"].split(os.pathsep)[0], env=server.environ(),
            stdout=subprocess.PIPE, stderr=server._log, stdin=subprocess.DEVNULL, text=True,
        )
        server.wait_ready()
        return self

    def crash(self):
        """Kill the process (SIGKILL): no cleanup, no last delivery."""
        self.server.process.kill()
        self.server.process.wait(10)
        self.server.stop()

    def stop(self):
        self.server.stop()

    def deliver(self):
        """Run ``manage.py federation_deliver --all`` against this peer's database."""
        import subprocess
        import sys

        return subprocess.run(
            [sys.executable, "-m", "django", "federation_deliver", "--all"],
            env=self.server.environ(), capture_output=True, text=True, timeout=120,
            cwd=self.server.environ()["PYTHONPATH"].split(os.pathsep)[0],
            stdin=subprocess.DEVNULL,
        )

    def rows(self, sql):
        with sqlite3.connect(self.server.db, timeout=20) as db:
            return db.execute(sql).fetchall()


@pytest.fixture
def sender_and_receiver(tmp_path):
    """``shop_s`` exposes books and sends its deletions to ``shop_r``; both on fixed ports."""
    from tests.integration.servers import free_port, migrate_template

    template = migrate_template(tmp_path)
    ports = {"shop_s": free_port(), "shop_r": free_port()}
    url = {name: f"http://127.0.0.1:{port}/federation/" for name, port in ports.items()}
    sender = Peer("shop_s", tmp_path, {
        "PROJECT_NAME": "shop_s",
        "PEERS": {"shop_r": {"URL": url["shop_r"], "KEY": "k-sr"}},
        "EXPOSE": {"library_app.Book": ["title"]},
        "TIMEOUT": 1.0,
    }, template, ports["shop_s"])
    receiver = Peer("shop_r", tmp_path, {
        "PROJECT_NAME": "shop_r",
        "PEERS": {"shop_s": {"URL": url["shop_s"], "KEY": "k-sr"}},
        "TIMEOUT": 1.0,
    }, template, ports["shop_r"])
    try:
        yield sender.start(), receiver.start()
    finally:
        sender.stop()
        receiver.stop()


RECEIVED = "SELECT event_id, object_pk FROM federated_relations_receivedevent WHERE " \
    "sender = 'shop_s'"
OUTBOX = "SELECT event_id, object_pk, delivered_at IS NOT NULL FROM " \
    "federated_relations_outboxevent WHERE peer = 'shop_r'"


@pytest.mark.integration
def test_the_outbox_survives_crashes_and_a_peer_that_was_down(sender_and_receiver):
    sender, receiver = sender_and_receiver
    pks = sender.server.create("library_app.Book",
                               *({"title": f"B{i}", "price": "1.00"} for i in range(5)))

    # Up: delivered at once.
    result = sender.server.delete("library_app.Book", *pks[:2])
    assert result == {"deleted": 2, "delivery_finished": True, "pending": 0}
    assert sorted(pk for _id, pk in receiver.rows(RECEIVED)) == sorted(pks[:2])

    # The receiver is down when three more are deleted: they wait in the outbox...
    receiver.stop()
    result = sender.server.delete("library_app.Book", *pks[2:])
    assert result["deleted"] == 3 and result["pending"] == 3
    # ... across a crash of the sender (SIGKILL: nothing in memory survives).
    sender.crash()
    assert sorted(row[1] for row in sender.rows(OUTBOX) if not row[2]) == sorted(pks[2:])
    receiver.start()
    sender.start()
    delivered = sender.deliver()
    assert delivered.returncode == 0, delivered.stderr
    assert "3 event(s) delivered in total." in delivered.stdout

    received = receiver.rows(RECEIVED)
    outbox = sender.rows(OUTBOX)
    assert sorted(pk for _id, pk in received) == sorted(pks)  # every event, once
    assert len({event_id for event_id, _pk in received}) == 5
    assert all(row[2] for row in outbox) and len(outbox) == 5

    # A crash between the receiver's commit and the sender's: the sender still thinks
    # two events are pending and sends them again; the receiver accepts, applies nothing.
    with sqlite3.connect(sender.server.db, timeout=20) as db:
        db.execute("UPDATE federated_relations_outboxevent SET delivered_at = NULL "
                   "WHERE object_pk IN (?, ?)", pks[:2])
    sender.crash()
    sender.start()
    receiver.server.control()  # reset its request counters
    again = sender.deliver()
    assert again.returncode == 0 and "2 event(s) delivered in total." in again.stdout
    assert receiver.server.served() == {"POST events/": 1}  # really sent again
    assert sorted(receiver.rows(RECEIVED)) == sorted(received)  # applied once
