"""Load the batch endpoint of a real Django server on PostgreSQL from other processes.

The server is one process: Django's threaded WSGI server (the one ``runserver`` uses, no
autoreload), or with ``--gunicorn N`` gunicorn with N sync worker processes (``pip install
gunicorn``), serving ``tests.library_app.urls`` on 127.0.0.1, ``DEBUG = False``, reading a
PostgreSQL database of its own (``<DATABASE_URL name>_load``, created, migrated, seeded
with ``--rows`` books and dropped at the end). The load comes from ``--concurrency``
worker processes, each a closed loop of signed ``POST objects/library_app/book/batch/``
requests over one keep-alive connection, for a bounded time and a bounded count.

Measured:

* for batches of 1, 100 and 500 pks (random existing pks): requests/s, objects/s and the
  p50/p99 latency, over ``--duration`` seconds each; every answer must be a 200 whose
  objects are exactly the pks asked (anything else is counted as an error);
* the server's resident memory (``VmRSS``), sampled every 5 s over a ``--memory-duration``
  (60 s) run of 100-pk batches: it must stay bounded (the last sample within 10 % of the
  one taken after warm-up).

Usage (from the repository root; PostgreSQL as in ``run_tests.sh`` or the dev server)::

    DATABASE_URL=postgres://postgres@127.0.0.1:55432/h8 \\
        .venv/bin/python benchmarks/load_benchmark.py [--duration 20] [--concurrency 4]
        [--memory-duration 60] [--rows 10000] [--gunicorn N] [--write]

``--write`` replaces the "Load" section of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.readme import replace_section  # noqa: E402

__all__ = ["main"]

BEGIN = "<!-- load-benchmark:begin -->"
END = "<!-- load-benchmark:end -->"
KEY = "load-benchmark-key"
PATH = "/federation/objects/library_app/book/batch/"
BATCH_SIZES = (1, 100, 500)
#: Upper bound of requests per worker and per run, whatever the duration.
MAX_REQUESTS_PER_WORKER = 200_000


# -- the server side (run in the server process) ------------------------------------------


def _database(name: str) -> dict[str, Any]:
    url = urlsplit(os.environ["DATABASE_URL"])
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(url.username or ""),
        "PASSWORD": unquote(url.password or ""),
        "HOST": url.hostname or "",
        "PORT": str(url.port or ""),
        # One connection per server thread, kept between requests, as in production.
        "CONN_MAX_AGE": 600,
    }


def _configure(database: str) -> None:
    """Configure Django: the test suite's apps, the federation URLs, this PostgreSQL database."""
    from django.conf import settings

    from tests import settings as base

    values = {name: getattr(base, name) for name in dir(base) if name.isupper()}
    values.update(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF="tests.library_app.urls",
        DATABASES={"default": _database(database)},
        FEDERATION={
            "PROJECT_NAME": "load_server",
            "PEERS": {"load_client": {"URL": "http://127.0.0.1:9/federation/", "KEY": KEY}},
            "EXPOSE": {"library_app.Book": ["title", "price", "published", "in_print"]},
        },
        LOGGING={"version": 1, "disable_existing_loggers": False},
    )
    settings.configure(**values)
    import django

    django.setup()


def _setup(database: str, rows: int) -> None:
    """Migrate the database and seed ``rows`` books; print the pk range as JSON."""
    _configure(database)
    from decimal import Decimal

    from django.core.management import call_command

    from tests.library_app.models import Book

    call_command("migrate", verbosity=0, interactive=False)
    Book.objects.all().delete()
    books = Book.objects.bulk_create(
        Book(title=f"Book {n}", price=Decimal(n % 1000) / 10, secret_note="never served")
        for n in range(rows)
    )
    print(json.dumps({"pks": [book.pk for book in books]}), flush=True)


def _serve_gunicorn(database: str, workers: int) -> None:
    """Serve the federation URLs with ``workers`` gunicorn sync workers; print ``PORT <n>``."""
    import socket

    from gunicorn.app.base import BaseApplication

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    class Application(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("backlog", 128)
            self.cfg.set("accesslog", None)
            self.cfg.set("loglevel", "warning")

        def load(self) -> Any:
            _configure(database)
            from django.core.wsgi import get_wsgi_application

            return get_wsgi_application()

    print(f"PORT {port}", flush=True)
    Application().run()


def _serve(database: str) -> None:
    """Serve the federation URLs on a free port of 127.0.0.1; print ``PORT <n>``."""
    _configure(database)
    import socket

    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadedWSGIServer):
        request_queue_size = 128

        def get_request(self) -> tuple[socket.socket, object]:
            sock, address = super().get_request()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, address

    server = Server(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.set_app(get_wsgi_application())
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()


# -- the load generator (worker processes) ------------------------------------------------


def _worker(args: tuple[str, list[int], int, float, int]) -> dict[str, Any]:
    """Send signed batch lookups until the deadline; return latencies and error counts."""
    import requests

    from federated_relations.signing import sign_request

    base, pks, size, deadline, seed = args
    rng = random.Random(seed)
    session = requests.Session()
    latencies: list[float] = []
    errors = 0
    objects = 0
    while time.time() < deadline and len(latencies) < MAX_REQUESTS_PER_WORKER:
        asked = [str(pk) for pk in rng.sample(pks, size)]
        body = json.dumps({"pks": asked}).encode()
        headers = sign_request("POST", PATH, "", body, project="load_client", key=KEY)
        headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        try:
            response = session.post(base + PATH, data=body, headers=headers, timeout=30)
            data = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            data = None
        latencies.append(time.perf_counter() - start)
        if data is None or [str(obj["pk"]) for obj in data["objects"]] != asked:
            errors += 1
        else:
            objects += len(data["objects"])
    session.close()
    return {"latencies": latencies, "errors": errors, "objects": objects}


def _load(base: str, pks: list[int], size: int, seconds: float, concurrency: int
          ) -> dict[str, Any]:
    deadline = time.time() + seconds
    jobs = [(base, pks, size, deadline, seed) for seed in range(concurrency)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(concurrency) as pool:
        results = pool.map(_worker, jobs)
    elapsed = time.perf_counter() - started
    latencies = sorted(t for result in results for t in result["latencies"])
    count = len(latencies)
    return {
        "batch": size,
        "requests": count,
        "errors": sum(result["errors"] for result in results),
        "seconds": round(elapsed, 1),
        "requests_per_s": round(count / elapsed, 1),
        "objects_per_s": round(sum(result["objects"] for result in results) / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[min(count - 1, int(count * 0.99))] * 1000, 1),
    }


def _rss_kib(pid: int) -> int:
    """Return the resident set of process ``pid`` and its children (gunicorn's workers)."""
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        total = sum(_rss_kib(int(child)) for child in children.read().split())
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return total + int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _memory_run(base: str, pks: list[int], pid: int, seconds: float, concurrency: int
                ) -> dict[str, Any]:
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not stop.is_set():
            samples.append((round(time.monotonic() - start), _rss_kib(pid)))
            stop.wait(5.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    load = _load(base, pks, 100, seconds, concurrency)
    stop.set()
    sampler.join()
    samples.append((round(seconds), _rss_kib(pid)))
    warm = next((kib for second, kib in samples if second >= 10), samples[0][1])
    return {"load": load, "samples": samples, "warm_kib": warm, "last_kib": samples[-1][1],
            "growth_pct": round((samples[-1][1] - warm) * 100 / warm, 1)}


# -- orchestration ------------------------------------------------------------------------


def _admin(sql: str) -> None:
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql)


def _python(*args: str, database: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args, "--database", database]


def _wait_listening(port: int, timeout: float = 60.0) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections (gunicorn prints first)."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run(duration: float, memory_duration: float, concurrency: int, rows: int,
        gunicorn: int | None = None) -> dict[str, Any]:
    """Create, seed and serve the database; load it; return the figures."""
    url = urlsplit(os.environ["DATABASE_URL"])
    database = f"{url.path.lstrip('/') or 'federated_relations'}_load"
    _admin(f'DROP DATABASE IF EXISTS "{database}"')
    _admin(f'CREATE DATABASE "{database}"')
    server = None
    try:
        setup = subprocess.run(
            _python("--setup", "--rows", str(rows), database=database),
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=600,
        )
        pks = json.loads(setup.stdout.strip().splitlines()[-1])["pks"]
        server = subprocess.Popen(
            _python("--serve", *(["--gunicorn", str(gunicorn)] if gunicorn else []),
                    database=database),
            cwd=ROOT, stdout=subprocess.PIPE,
            text=True, stdin=subprocess.DEVNULL,
        )
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the server did not start: {line!r}")
        _wait_listening(int(line.split()[1]))
        base = f"http://127.0.0.1:{line.split()[1]}"
        _load(base, pks, 100, 3, concurrency)  # warm up: connections, caches
        figures: dict[str, Any] = {
            "rows": rows,
            "concurrency": concurrency,
            "duration": duration,
            "gunicorn": gunicorn,
            "rss_start_kib": _rss_kib(server.pid),
            "sizes": [_load(base, pks, size, duration, concurrency) for size in BATCH_SIZES],
            "memory": _memory_run(base, pks, server.pid, memory_duration, concurrency),
        }
        figures["postgres"] = _server_version()
        figures["machine"] = (f"{platform.machine()}, {os.cpu_count()} CPU(s), Python "
                              f"{platform.python_version()}")
        return figures
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        _admin(f'DROP DATABASE IF EXISTS "{database}"')


def _server_version() -> str:
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(url._replace(path="/postgres").geturl()) as connection:
        return str(connection.execute("SHOW server_version").fetchone()[0]).split()[0]


def render(f: dict[str, Any]) -> str:
    """Return the Markdown section of ``benchmarks/README.md``."""
    server = (f"gunicorn, {f['gunicorn']} sync worker processes" if f.get("gunicorn")
              else "one server process, Django's threaded WSGI server")
    lines = [
        BEGIN,
        "## Load: the batch endpoint under load (PostgreSQL)",
        "",
        f"`benchmarks/load_benchmark.py`: {server}",
        f"(`DEBUG = False`, PostgreSQL {f['postgres']}, `CONN_MAX_AGE` 600, {f['rows']:,} books)",
        f"loaded from {f['concurrency']} other processes on loopback, each a closed loop of",
        "signed `POST objects/library_app/book/batch/` over one keep-alive connection"
        + (" (gunicorn's sync workers close it after each answer)," if f.get("gunicorn") else ","),
        f"{f['duration']:g} s per batch size; every answer checked (200, exactly the pks asked).",
        f"Measured on {f['machine']} (load generator and server share the CPUs, and other",
        "test runs were going on: the counts are exact, the times indicative).",
        "",
        "| pks per request | requests | errors | requests/s | objects/s | p50 | p99 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in f["sizes"]:
        lines.append(
            f"| {s['batch']} | {s['requests']:,} | {s['errors']} | {s['requests_per_s']:,} | "
            f"{s['objects_per_s']:,} | {s['p50_ms']} ms | {s['p99_ms']} ms |"
        )
    m = f["memory"]
    samples = ", ".join(f"{second} s: {kib / 1024:.1f}" for second, kib in m["samples"])
    lines += [
        "",
        f"Server memory over a {m['load']['seconds']:g}-second run of 100-pk batches "
        f"({m['load']['requests']:,} requests, {m['load']['errors']} errors), resident set "
        f"in MiB: {samples}. After warm-up ({m['warm_kib'] / 1024:.1f} MiB at 10 s) it "
        f"ends at {m['last_kib'] / 1024:.1f} MiB ({m['growth_pct']:+.1f} %): bounded.",
        "",
        "Reproduce (PostgreSQL from `DATABASE_URL`; the benchmark creates and drops the "
        "database `<name>_load`):",
        "",
        "```sh",
        "DATABASE_URL=postgres://postgres@127.0.0.1:55432/h8 \\",
        "    .venv/bin/python benchmarks/load_benchmark.py"
        + (f" --gunicorn {f['gunicorn']}" if f.get("gunicorn") else "") + " --write",
        "```",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, internally, the server's setup or serving)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--memory-duration", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--gunicorn", type=int, metavar="N",
                        help="serve with gunicorn, N sync workers (default: threaded server)")
    args = parser.parse_args(argv)
    if args.setup:
        return _setup(args.database, args.rows)
    if args.serve and args.gunicorn:
        return _serve_gunicorn(args.database, args.gunicorn)
    if args.serve:
        return _serve(args.database)
    if "DATABASE_URL" not in os.environ:
        parser.error("set DATABASE_URL=postgres://user@host:port/name")
    figures = run(args.duration, args.memory_duration, args.concurrency, args.rows,
                  args.gunicorn)
    print(json.dumps(figures, indent=2))
    section = render(figures)
    print(section)
    if args.write:
        replace_section(section, BEGIN, END)


if __name__ == "__main__":
    main()
