"""Delivery of deletion events between real processes: exit flush, outages, two workers.

The senders and receivers here are real ``manage.py`` processes (``python -m django`` with
the peers' settings, ``tests.integration.peer_settings``) and real servers
(``tests.integration.serve``). The receivers count every event id POSTed to them,
duplicates included (``ChaosMiddleware``), so "sent once" is checked on the wire.
With ``FR_DB=postgres`` the two-worker outbox lives in a PostgreSQL database of
``DATABASE_URL``'s server (rows claimed with ``select_for_update(skip_locked=True)``);
otherwise in a SQLite file (one writer).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from federated_relations import remote
from federated_relations.client import FederationClient
from federated_relations.models import ReceivedEvent
from tests.integration.servers import (
    ROOT,
    FixedPortPeer,
    PeerServer,
    free_port,
    migrate_template,
)
from tests.library_app.models import Bookmark

pytestmark = pytest.mark.integration

KEY = "delivery-secret"


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m django ARGS`` (what ``manage.py ARGS`` runs) with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def last_line(result: subprocess.CompletedProcess) -> list[str]:
    """Return the words of the last line a command printed (after shell's own notes)."""
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split()


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}.")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fr-delivery-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def template(workdir: Path) -> Path:
    return migrate_template(workdir)


# --- a shell -c deletion reaches a live peer ----------------------------------------------


def test_a_shell_c_deletion_reaches_the_live_peer_before_the_process_exits(federation):
    shop_a = federation["shop_a"]
    (pk,) = shop_a.create("library_app.Book", {"title": "Scripted", "price": "1.00"})
    kept_pk = shop_a.create("library_app.Book", {"title": "Kept", "price": "1.00"})[0]
    doomed = Bookmark.objects.create(target=remote("shop_a", "library_app.Book", pk))
    kept = Bookmark.objects.create(target=remote("shop_a", "library_app.Book", kept_pk))

    # shop_a's own settings and database, in a process of its own: the server never
    # hears of this deletion, only the process itself can deliver it.
    code = (
        "from tests.library_app.models import Book; "
        f"Book.objects.get(pk={int(pk)}).delete()"
    )
    result = manage(shop_a.environ(), "shell", "-c", code)
    assert result.returncode == 0, result.stderr

    # No waiting: the event was applied here before the command exited.
    event = ReceivedEvent.objects.get(sender="shop_a", object_pk=pk)
    assert (event.app_label, event.model) == ("library_app", "book")
    assert list(Bookmark.objects.filter(pk__in=[doomed.pk, kept.pk])) == [kept]
    assert [row["delivered"] for row in shop_a.outbox() if row["pk"] == pk] == [True], (
        result.stderr
    )
    # The peers are shared by the session: leave shop_a's books as the other tests seeded them.
    shop_a.delete("library_app.Book", kept_pk)


def test_a_shell_c_deletion_with_the_peer_down_exits_promptly_and_keeps_the_event(
    workdir, template
):
    # A sender whose only peer listens nowhere: the exit waits at most FLUSH_TIMEOUT.
    db = workdir / "lonely.sqlite3"
    shutil.copyfile(template, db)
    server = PeerServer("lonely", workdir, {
        "PROJECT_NAME": "lonely",
        "PEERS": {"gone": {"URL": f"http://127.0.0.1:{free_port()}/federation/", "KEY": "k"}},
        "EXPOSE": {"library_app.Book": ["title"]},
        "TIMEOUT": 1.0, "FLUSH_TIMEOUT": 3.0,
    })
    code = (
        "from tests.library_app.models import Book; "
        "Book.objects.create(title='x', price=1).delete()"
    )
    started = time.monotonic()
    result = manage(server.environ(), "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60  # generous: it is the process start that is slow
    count = manage(server.environ(), "shell", "-c", (
        "from federated_relations.models import OutboxEvent as O; "
        "print(O.objects.filter(delivered_at__isnull=True).count(), "
        "O.objects.get().attempts)"
    ))
    assert last_line(count) == ["1", "1"]  # tried once, still pending: not lost


# --- a peer down, then up, gets every event once ------------------------------------------


@pytest.fixture
def sender_and_receiver(workdir, template) -> Iterator[tuple[PeerServer, FixedPortPeer]]:
    port = free_port()
    receiver = FixedPortPeer("recv", workdir, {
        "PROJECT_NAME": "recv",
        "PEERS": {"send": {"URL": "http://127.0.0.1:9/federation/", "KEY": KEY}},
        "CACHE_TTL": 0,
    }, port=port)
    sender = PeerServer("send", workdir, {
        "PROJECT_NAME": "send",
        "PEERS": {"recv": {"URL": receiver.url, "KEY": KEY}},
        "EXPOSE": {"library_app.Book": ["title"]},
        "TIMEOUT": 1.0, "RETRY_BACKOFF": 0.2, "RETRY_BACKOFF_MAX": 1.0,
    })
    for server in (receiver, sender):
        shutil.copyfile(template, server.db)
    sender.start()
    sender.wait_ready()
    try:
        yield sender, receiver
    finally:
        sender.stop()
        receiver.stop()


def test_a_peer_down_then_up_gets_every_event_once(sender_and_receiver):
    sender, receiver = sender_and_receiver
    pks = sender.create(
        "library_app.Book", *({"title": f"b{i}", "price": "1.00"} for i in range(30))
    )
    # The receiver is down (nothing listens on its port): each deletion is a web request
    # whose delivery fails and is retried by the sender on its own schedule.
    for pk in pks:
        result = sender._post("_test/delete/library_app/book/", {"pks": [pk], "wait": False})
        assert result["deleted"] == 1
    wait_until(
        lambda: all(row["attempts"] >= 2 for row in sender.outbox()), 30,
        "the sender to retry while the receiver is down",
    )
    assert not any(row["delivered"] for row in sender.outbox())

    receiver.start()
    receiver.wait_ready()
    # Nobody runs federation_deliver: the sender's own retries deliver everything. Its
    # circuit breaker opened while the receiver was down: the next trial comes within one
    # cooldown (FederationClient.cooldown, 30 s) after the last failed one, then the backoff.
    deadline = FederationClient.cooldown + 30
    wait_until(lambda: all(row["delivered"] for row in sender.outbox()), deadline,
               "the sender to deliver once the receiver is back")
    ids = receiver.event_ids()
    assert len(ids) == len(pks)
    assert set(ids.values()) == {1}  # every event once


def test_a_restarted_sender_delivers_what_was_pending_without_a_new_deletion(
    sender_and_receiver,
):
    sender, receiver = sender_and_receiver
    pks = sender.create("library_app.Book", *({"title": f"r{i}", "price": "1.00"}
                                              for i in range(3)))
    for pk in pks:  # the receiver is down: the events stay pending
        sender._post("_test/delete/library_app/book/", {"pks": [pk], "wait": False})
    wait_until(lambda: all(row["attempts"] >= 1 for row in sender.outbox()), 30,
               "the sender to try once while the receiver is down")
    sender.stop()  # a deploy: the sender's delivery thread is gone with its process
    receiver.start()
    receiver.wait_ready()
    sender.start()
    sender.wait_ready()
    # No deletion and no federation_deliver: the new process's first connection resumes.
    wait_until(lambda: all(row["delivered"] for row in sender.outbox()), 30,
               "the restarted sender to deliver what was pending")
    assert len(receiver.event_ids()) == len(pks)


# --- two delivery workers never send one event twice ---------------------------------------


def _postgres_database(name: str) -> str | None:
    """Create database ``name`` on DATABASE_URL's server when the suite runs on PostgreSQL."""
    if os.environ.get("FR_DB") != "postgres":
        return None
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(
        host=url.hostname, port=url.port, user=url.username or "postgres",
        password=url.password or None, dbname="postgres", autocommit=True,
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_postgres_database(name: str) -> None:
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(
        host=url.hostname, port=url.port, user=url.username or "postgres",
        password=url.password or None, dbname="postgres", autocommit=True,
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_delivery_workers_never_send_one_event_twice(workdir, template):
    receiver = FixedPortPeer("recv2", workdir, {
        "PROJECT_NAME": "recv2",
        "PEERS": {"outbox": {"URL": "http://127.0.0.1:9/federation/", "KEY": KEY}},
    }, port=free_port())
    shutil.copyfile(template, receiver.db)
    outbox = PeerServer("outbox", workdir, {
        "PROJECT_NAME": "outbox",
        "PEERS": {"recv2": {"URL": receiver.url, "KEY": KEY}},
        "TIMEOUT": 5.0,
    })
    env = outbox.environ()
    pg_name = _postgres_database(f"fr_delivery_{uuid.uuid4().hex[:8]}")
    if pg_name is not None:
        env["FR_PEER_PG_DB"] = pg_name
        migrated = manage(env, "migrate", "--noinput", "-v", "0", timeout=300)
        assert migrated.returncode == 0, migrated.stderr
    else:
        shutil.copyfile(template, outbox.db)
    workers: list[subprocess.Popen] = []
    try:
        receiver.start()
        receiver.wait_ready()
        receiver.control(delay=1.0)  # slow answers: the workers overlap for sure
        total = 450
        made = manage(env, "shell", "-c", (
            "from federated_relations.models import OutboxEvent as O; "
            "O.objects.bulk_create([O(peer='recv2', app_label='library_app', model='book', "
            f"object_pk=str(i)) for i in range({total})])"
        ))
        assert made.returncode == 0, made.stderr
        for _ in range(2):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "django", "federation_deliver", "--watch",
                 "--interval", "0.2"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL, text=True,
            ))
        wait_until(lambda: len(receiver.event_ids()) >= total, 120,
                   "the workers to deliver every event")
        time.sleep(1.0)  # any second sending would arrive within this
        ids = receiver.event_ids()
        assert len(ids) == total
        assert set(ids.values()) == {1}
        outputs = []
        for worker in workers:
            worker.terminate()
            out, _err = worker.communicate(timeout=30)
            assert worker.returncode == 0, _err
            outputs.append(out)
        if pg_name is not None:
            # PostgreSQL: both workers sent batches at once, each skipping the other's.
            # (SQLite has one writer: the second worker may only ever wait.)
            assert all("recv2:" in out for out in outputs), outputs
        left = manage(env, "shell", "-c", (
            "from federated_relations.models import OutboxEvent as O; "
            "print(O.objects.filter(delivered_at__isnull=True).count())"
        ))
        assert last_line(left) == ["0"]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
        receiver.stop()
        if pg_name is not None:
            _drop_postgres_database(pg_name)


# --- hostile corners, on a real server ------------------------------------------------------


def test_a_malformed_content_length_gets_a_json_400_from_a_real_server(peers):
    server = peers["shop_a"]
    for length in ("abc", "1.5", "\uff11\uff12".encode().decode("latin-1")):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            body = b'{"events": []}'
            head = (
                "POST /federation/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nX-Federation-Project: local_project\r\n"
                f"X-Federation-Timestamp: {int(time.time())}\r\n"
                f"X-Federation-Signature: {'0' * 64}\r\n"
                f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
            )
            sock.sendall(head.encode("latin-1") + body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        headers, _, content = rest.partition(b"\r\n\r\n")
        assert status_line.split()[1] == b"400", answer[:300]
        assert b"application/json" in headers and b"no-store" in headers
        assert json.loads(content)["error"]["code"] == "bad_request"


def test_the_sender_drops_an_event_the_real_receiver_refuses(sender_and_receiver):
    sender, receiver = sender_and_receiver
    receiver.start()
    receiver.wait_ready()
    # An event with a model name no type can have, next to a good one.
    code = (
        "from federated_relations.models import OutboxEvent as O; "
        "from federated_relations.outbox import deliver_pending; "
        "O.objects.bulk_create([O(peer='recv', app_label='library_app', model='book', "
        "object_pk='1'), O(peer='recv', app_label='library_app', model='no such model', "
        "object_pk='2')]); "
        "r = deliver_pending(); print(r.delivered_count, sum(map(len, r.dropped.values()))); "
        "print(deliver_pending(include_not_due=True).delivered_count)"
    )
    result = manage(sender.environ(), "shell", "-c", code)
    lines = result.stdout.strip().splitlines()
    assert [lines[-2].split(), lines[-1].split()] == [["1", "1"], ["0"]], result.stderr
    assert result.stderr.count("Dropped event") == 1
    assert requests.get(receiver.base + "_test/control/", timeout=10).json()["served"] == {
        "POST events/": 3  # the batch, then each event alone; nothing after
    }
