"""How soon a deletion on one server takes effect on another: real servers, p50 and p99.

Two servers (``tests/integration`` processes, own SQLite databases): the sender exposes
``library_app.Book``; the receiver holds a ``Bookmark`` (``on_remote_delete=CASCADE``)
for each of the sender's books. Each deletion's latency is from the commit of the
deletion on the sender (an ``on_commit`` hook, which runs before the delivery starts) to
the receiver applying the event (``ReceivedEvent.received_at``, stamped in the
transaction that deletes the bookmark); both clocks are this machine's.

* (a) ``web``: each deletion is a web request to the sender (``queryset.delete()`` in a
  view, which answers without waiting for the delivery);
* (b) ``shell``: each deletion is its own ``manage.py shell -c`` process (``python -m
  django shell -c`` with the sender's settings), which exits right after the commit:
  the flush at exit delivers;
* (c) ``outage``: the receiver is down (nothing listens on its port) while the
  deletions are made, for ``--down`` seconds; then it starts again on the same port.
  Latency counts from when it answers again. The sender retries on its own schedule,
  ``RETRY_BACKOFF`` doubling up to ``RETRY_BACKOFF_MAX`` (``--backoff``,
  ``--backoff-max``); the target is under 2 x the backoff step in force at that moment.

Targets (issue 12): (a) and (b) p99 under 2 s; (c) under 2 x the step in force.

Usage (from the repository root)::

    .venv/bin/python benchmarks/delivery_benchmark.py [--n 100] [--down 60]
        [--backoff 1] [--backoff-max 30] [--cases web,shell,outage] [--write]

The defaults run case (c) with a one-minute outage and a 30 s cap; the issue's full
10 minutes with the default settings is ``--down 600 --backoff-max 300``. ``--write``
replaces the "Delivery" section of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.readme import replace_section  # noqa: E402
from tests.integration.servers import (  # noqa: E402
    FixedPortPeer,
    PeerServer,
    free_port,
    migrate_template,
)

__all__ = ["main", "run"]

BEGIN = "<!-- delivery-benchmark:begin -->"
END = "<!-- delivery-benchmark:end -->"
KEY = "bench-delivery-secret"
BOOK = "library_app.Book"


def percentile(values: list[float], q: float) -> float:
    """Return the ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def wait_received(receiver: FixedPortPeer, pks: list[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        received = receiver.received()
        if all(pk in received for pk in pks):
            return {pk: received[pk] for pk in pks}
        if time.monotonic() > deadline:
            missing = [pk for pk in pks if pk not in received]
            raise RuntimeError(f"{len(missing)} event(s) never arrived: {missing[:5]}...")
        time.sleep(0.2)


def books(sender: PeerServer, receiver: FixedPortPeer, n: int, tag: str) -> list[str]:
    """Create ``n`` books on the sender and a bookmark of each on the receiver."""
    pks = sender.create(BOOK, *({"title": f"{tag}{i}", "price": "1.00"} for i in range(n)))
    receiver._post("_test/refer/", {"project": "sender", "label": BOOK, "pks": pks})
    return pks


def case_web(sender: PeerServer, receiver: FixedPortPeer, n: int) -> list[float]:
    pks = books(sender, receiver, n, "web")
    committed = {}
    for pk in pks:
        answer = sender._post(
            "_test/delete/library_app/book/", {"pks": [pk], "wait": False, "timed": True}
        )
        committed[pk] = answer["committed_at"]
        time.sleep(0.05)  # deletions as a site makes them, not one burst
    received = wait_received(receiver, pks, 120)
    return [received[pk] - committed[pk] for pk in pks]


SHELL_CODE = """
import time
from django.db import transaction
from tests.library_app.models import Book
stamps = []
with transaction.atomic():
    transaction.on_commit(lambda: stamps.append(time.time()))
    Book.objects.filter(pk={pk}).delete()
print("COMMITTED", stamps[0])
"""


def case_shell(sender: PeerServer, receiver: FixedPortPeer, n: int) -> list[float]:
    pks = books(sender, receiver, n, "shell")
    committed = {}
    for pk in pks:
        result = subprocess.run(
            [sys.executable, "-m", "django", "shell", "-c", SHELL_CODE.format(pk=int(pk))],
            cwd=ROOT, env=sender.environ(), capture_output=True, text=True, timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode:
            raise RuntimeError(f"shell -c failed:\n{result.stderr}")
        line = [ln for ln in result.stdout.splitlines() if ln.startswith("COMMITTED")][-1]
        committed[pk] = float(line.split()[1])
    # The events were applied before each process exited; this only reads them.
    received = wait_received(receiver, pks, 10)
    return [received[pk] - committed[pk] for pk in pks]


def case_outage(
    sender: PeerServer, receiver: FixedPortPeer, n: int, down: float
) -> tuple[list[float], int]:
    pks = books(sender, receiver, n, "outage")
    receiver.stop()
    went_down = time.monotonic()
    for pk in pks:
        sender._post("_test/delete/library_app/book/", {"pks": [pk], "wait": False})
    time.sleep(max(0.0, down - (time.monotonic() - went_down)))
    attempts = max(
        row["attempts"] for row in sender.outbox() if row["pk"] in set(pks)
    )
    receiver.session = type(receiver.session)()
    receiver.start()
    receiver.wait_ready()
    back = time.time()
    received = wait_received(receiver, pks, 4 * down + 120)
    return [received[pk] - back for pk in pks], attempts


def summary(latencies: list[float]) -> tuple[float, float, float]:
    return percentile(latencies, 50), percentile(latencies, 99), max(latencies)


def run(
    n: int, down: float, backoff: float, backoff_max: float, cases: list[str]
) -> dict[str, Any]:
    """Start the two servers, run the cases; return the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="fr-delivery-bench-"))
    receiver = FixedPortPeer("receiver", workdir, {
        "PROJECT_NAME": "receiver",
        "PEERS": {"sender": {"URL": "http://127.0.0.1:9/federation/", "KEY": KEY}},
        "CACHE_TTL": 0,
    }, port=free_port())
    sender = PeerServer("sender", workdir, {
        "PROJECT_NAME": "sender",
        "PEERS": {"receiver": {"URL": receiver.url, "KEY": KEY}},
        "EXPOSE": {BOOK: ["title"]},
        "TIMEOUT": 2.0,
        "RETRY_BACKOFF": backoff,
        "RETRY_BACKOFF_MAX": backoff_max,
    })
    results: dict[str, Any] = {}
    try:
        template = migrate_template(workdir)
        for server in (receiver, sender):
            shutil.copyfile(template, server.db)
            server.start()
        for server in (receiver, sender):
            server.wait_ready()
        if "web" in cases:
            results["web"] = summary(case_web(sender, receiver, n))
        if "shell" in cases:
            results["shell"] = summary(case_shell(sender, receiver, n))
        if "outage" in cases:
            latencies, attempts = case_outage(sender, receiver, n, down)
            step = min(backoff * 2 ** max(attempts - 1, 0), backoff_max)
            results["outage"] = (*summary(latencies), attempts, step)
    finally:
        for server in (sender, receiver):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def render(results: dict[str, Any], n: int, down: float, backoff: float,
           backoff_max: float) -> str:
    import django

    lines = [
        BEGIN,
        f"{n} deletions per case, two servers (SQLite), Python {platform.python_version()}, "
        f"Django {django.get_version()}; latency from the commit on the sender to the "
        "event applied on the receiver:",
        "",
        "| case | p50 | p99 | max | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    if "web" in results:
        p50, p99, worst = results["web"]
        lines.append(f"| (a) web request | {p50:.3f} s | {p99:.3f} s | {worst:.3f} s | "
                     f"p99 < 2 s: {'met' if p99 < 2 else 'MISSED'} |")
    if "shell" in results:
        p50, p99, worst = results["shell"]
        lines.append(f"| (b) `manage.py shell -c` | {p50:.3f} s | {p99:.3f} s | "
                     f"{worst:.3f} s | p99 < 2 s: {'met' if p99 < 2 else 'MISSED'} |")
    if "outage" in results:
        p50, p99, worst, attempts, step = results["outage"]
        verdict = "met" if worst < 2 * step else "MISSED"
        lines.append(
            f"| (c) receiver down {down:g} s, then back (from when it answers) | "
            f"{p50:.3f} s | {p99:.3f} s | {worst:.3f} s | < 2 x step ({2 * step:g} s): "
            f"{verdict} |"
        )
        lines += [
            "",
            f"(c): `RETRY_BACKOFF` {backoff:g} s, `RETRY_BACKOFF_MAX` {backoff_max:g} s; "
            f"by the return the oldest events had {attempts} attempt(s), so the step in "
            f"force was {step:g} s.",
        ]
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    """Parse the arguments, run the benchmark, print (and maybe write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="deletions per case")
    parser.add_argument("--down", type=float, default=60.0,
                        help="seconds the receiver is down in case (c) (issue: 600)")
    parser.add_argument("--backoff", type=float, default=1.0, help="RETRY_BACKOFF")
    parser.add_argument("--backoff-max", type=float, default=30.0,
                        help="RETRY_BACKOFF_MAX (the setting's default: 300)")
    parser.add_argument("--cases", default="web,shell,outage")
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    args = parser.parse_args()
    cases = [case.strip() for case in args.cases.split(",")]
    results = run(args.n, args.down, args.backoff, args.backoff_max, cases)
    text = render(results, args.n, args.down, args.backoff, args.backoff_max)
    print(text)
    print(json.dumps(results))
    if args.write:
        replace_section(text, BEGIN, END)


if __name__ == "__main__":
    main()
