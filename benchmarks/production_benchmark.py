"""The production profile under load: gunicorn workers on PostgreSQL and a shared Redis cache.

Two real servers of ``tests/production`` (``GunicornServer``: gunicorn sync workers,
PostgreSQL databases of their own on ``DATABASE_URL``'s server, Django's ``RedisCache``
under a key prefix per server) on a ``redis-server`` the benchmark starts and stops: a
peer exposing 150 books (4 workers) and a client whose ``page/`` view renders 100
bookmarks of them (``prefetch_related`` of the ``FederatedForeignKey``, then ``str()`` of
every target). The load is ``--clients`` threads, each a closed loop of ``GET page/``;
every answer must be a 200 listing 100 available books (anything else is an error).

Measured, in this order:

1. requests to the peer per ``--views`` (1,000) page views on the client with 4 workers,
   per endpoint (the peer counts what all its workers served, in Redis): cold (the client
   just started, its Redis keys empty, the ``--clients`` first views released at once),
   then warm (the same views again);
2. the resident set (``VmRSS``) of each of the 4 workers, sampled every second over a
   ``--memory-seconds`` (60) run of the same load: start, end and max per worker;
3. pages/s with a warm shared cache, 4 client workers vs 1 (another gunicorn on the same
   database and the same Redis keys, up beside the first), and the ratio: ``--seconds``
   (20) of load each, in ``--rounds`` (4) alternations, so that the other load of a
   shared machine weighs on both alike.

Usage (from the repository root; about 3 minutes with the defaults)::

    DATABASE_URL=postgres://postgres@127.0.0.1:55432/fr_bench_prod \\
        .venv/bin/python benchmarks/production_benchmark.py [--clients 8] [--seconds 20]
        [--rounds 4] [--views 1000] [--memory-seconds 60] [--write]

The databases ``<DATABASE_URL name>_{template,peer,client}`` are created and dropped.
``--write`` replaces the "Production profile" section of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.readme import replace_section  # noqa: E402
from tests.integration.servers import free_port  # noqa: E402
from tests.production.servers import (  # noqa: E402
    PAGE_SIZE,
    WORKERS,
    GunicornServer,
    Profile,
    clone_database,
    create_database,
    drop_database,
)

__all__ = ["main", "run"]

BEGIN = "<!-- production-benchmark:begin -->"
END = "<!-- production-benchmark:end -->"
KEY = "production-benchmark-key"
BOOKS = 150
CACHE_TTL = 600  # longer than the run: the 1-worker client reads what the 4 workers cached
_AVAILABLE = b'data-available="1"'


# -- load ---------------------------------------------------------------------------------


def _load(port: int, clients: int, *, seconds: float | None = None,
          views: int | None = None) -> dict[str, Any]:
    """Render the page of the client on ``port`` from ``clients`` threads, for ``seconds``
    or ``views`` pages; return the latencies, errors and pages per worker pid.

    The threads start together (a barrier): on a cold cache their first pages are the
    thundering herd. Each answer is checked cheaply (status, 100 available items).
    """
    tickets = itertools.count() if views is not None else None
    deadline: list[float] = []
    release = threading.Barrier(
        clients, action=lambda: deadline.append(time.monotonic() + (seconds or 0)))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    workers: list[Counter[str]] = [Counter() for _ in range(clients)]

    def loop(index: int) -> None:
        release.wait(timeout=30)
        while True:
            if tickets is not None:
                if next(tickets) >= views:
                    return
            elif time.monotonic() >= deadline[0]:
                return
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request("GET", "/page/")
                response = connection.getresponse()
                body = response.read()
                connection.close()
                ok = response.status == 200 and body.count(_AVAILABLE) == PAGE_SIZE
                workers[index][response.getheader("X-Worker-Pid", "?")] += 1
            except OSError:
                ok = False
            latencies[index].append(time.perf_counter() - started)
            errors[index] += not ok

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "times": list(itertools.chain.from_iterable(latencies)),
        "errors": sum(errors),
        "seconds": time.monotonic() - started,
        "pages_by_worker": sum(workers, Counter()),
    }


def _measured(client: GunicornServer, peer: GunicornServer, clients: int, **bound: float
              ) -> dict[str, Any]:
    """Load ``client`` (``_load``); add the peer's requests meanwhile, per endpoint, and the
    CPU time of the client's workers and of the load threads (where 2 CPUs go)."""
    assert client.process is not None
    master = client.process.pid
    before = Counter(peer.served())
    workers_before, threads_before = _workers_cpu_seconds(master), time.process_time()
    load = _load(client.port, clients, **bound)
    load["load_cpu"] = time.process_time() - threads_before
    load["worker_cpu"] = _workers_cpu_seconds(master) - workers_before
    load["peer_requests"] = Counter(peer.served()) - before
    return load


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the figures of ``runs`` of one client taken together (rounds of one load)."""
    times = sorted(itertools.chain.from_iterable(run["times"] for run in runs))
    seconds = sum(run["seconds"] for run in runs)
    pages = max(len(times), 1)
    return {
        "pages": len(times),
        "errors": sum(run["errors"] for run in runs),
        "seconds": round(seconds, 1),
        "pages_per_s": round(len(times) / seconds, 1),
        "round_pages_per_s": [round(len(run["times"]) / run["seconds"], 1) for run in runs],
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 1),
        "worker_cpu_ms_per_page": round(sum(r["worker_cpu"] for r in runs) * 1000 / pages, 1),
        "load_cpu_ms_per_page": round(sum(r["load_cpu"] for r in runs) * 1000 / pages, 1),
        "peer_requests": dict(sorted(sum((r["peer_requests"] for r in runs), Counter()).items())),
        "pages_by_worker": dict(sum((r["pages_by_worker"] for r in runs), Counter())),
    }


# -- the client's workers, from /proc -----------------------------------------------------


def _worker_pids(master: int) -> list[int]:
    with open(f"/proc/{master}/task/{master}/children") as children:
        return sorted(int(pid) for pid in children.read().split())


def _workers_cpu_seconds(master: int) -> float:
    """Return the user + system CPU time of ``master``'s workers so far (``/proc/<pid>/stat``)."""
    ticks = 0
    for pid in _worker_pids(master):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int | None:
    """Return ``VmRSS`` of ``pid`` in KiB, or ``None`` if it is gone (a restarted worker)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def _memory_run(profile: Profile, clients: int, seconds: float) -> dict[str, Any]:
    """Load the client for ``seconds``; sample its workers' resident sets every second."""
    assert profile.client.process is not None
    master = profile.client.process.pid
    samples: dict[int, list[int]] = {}
    stop = threading.Event()

    def sample() -> None:
        while True:
            for pid in _worker_pids(master):
                if (kib := _rss_kib(pid)) is not None:
                    samples.setdefault(pid, []).append(kib)
            if stop.wait(1.0):
                return

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        load = _summary([_measured(profile.client, profile.peer, clients, seconds=seconds)])
    finally:
        stop.set()
        sampler.join()
    workers = [
        {"pid": pid, "pages": load["pages_by_worker"].get(str(pid), 0), "samples": len(kib),
         "start_mib": _mib(kib[0]), "end_mib": _mib(kib[-1]), "max_mib": _mib(max(kib))}
        for pid, kib in samples.items()
    ]
    return {"load": load, "workers": workers}


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


# -- orchestration ------------------------------------------------------------------------


@contextmanager
def _redis(workdir: Path) -> Iterator[str]:
    """Run a throwaway ``redis-server`` (no persistence) on a free port; yield its URL."""
    if shutil.which("redis-server") is None:
        raise SystemExit("needs redis-server (Debian package redis-server)")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _servers(workdir: Path, redis_url: str) -> tuple[GunicornServer, dict[str, Any]]:
    """Return the peer and the client's configuration (one per worker count, one database)."""
    base = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/") or "fr_bench_prod"
    ports = {"client": free_port(), "peer": free_port()}
    peer = GunicornServer(
        "peer", workdir, {
            "PROJECT_NAME": "peer",
            "PEERS": {"client": {"URL": f"http://127.0.0.1:{ports['client']}/federation/",
                                 "KEY": KEY}},
            "EXPOSE": {"library_app.Book": ["title", "price"]},
            "TIMEOUT": 5.0,
        },
        database=f"{base}_peer", redis_url=redis_url, key_prefix=f"{base}-peer",
        port=ports["peer"],
    )
    client = {
        "name": "client", "workdir": workdir,
        "federation": {
            "PROJECT_NAME": "client",
            "PEERS": {"peer": {"URL": peer.url, "KEY": KEY}},
            "TIMEOUT": 5.0,
            "CACHE_ALIAS": "default",
            "CACHE_TTL": CACHE_TTL,
        },
        "database": f"{base}_client", "redis_url": redis_url,
        "key_prefix": f"{base}-client", "port": ports["client"],
    }
    return peer, client


def run(clients: int, seconds: float, rounds: int, views: int, memory_seconds: float
        ) -> dict[str, Any]:
    """Start Redis and the servers, measure, stop everything; return the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="fr-production-bench-"))
    running: list[GunicornServer] = []
    created: list[str] = []
    started, load_average = time.monotonic(), _load_average()
    try:
        with _redis(workdir) as redis_url:
            peer, client_config = _servers(workdir, redis_url)
            try:
                template = GunicornServer(
                    "template", workdir, {"PROJECT_NAME": "template"},
                    database=peer.database.removesuffix("_peer") + "_template",
                    redis_url=redis_url, key_prefix="template", port=0,
                )
                create_database(template.database)
                created.append(template.database)
                template.manage("migrate", "--noinput", "-v", "0")
                for database in (peer.database, client_config["database"]):
                    clone_database(template.database, database)
                    created.append(database)
                client = GunicornServer(**client_config, worker_count=WORKERS)
                for server in (peer, client):
                    server.start()
                    running.append(server)
                for server in (peer, client):
                    server.wait_ready()
                pks = peer.create("library_app.Book", *(
                    {"title": f"Peer book {i:03}", "price": f"{i}.00"}
                    for i in range(1, BOOKS + 1)
                ))
                client.refer("peer", "library_app.Book", pks[:PAGE_SIZE])
                profile = Profile(client=client, peer=peer, book_pks=pks[:PAGE_SIZE])
                profile.reset()
                figures = _measure(profile, client_config, running, clients, seconds, rounds,
                                   views, memory_seconds)
            finally:  # the servers stop before their Redis and databases go
                for server in running:
                    server.stop()
                for name in created:
                    drop_database(name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures["total_seconds"] = round(time.monotonic() - started)
    figures["load_average"] = {"start": load_average, "end": _load_average()}
    return figures


def _measure(profile: Profile, client_config: dict[str, Any], running: list[GunicornServer],
             clients: int, seconds: float, rounds: int, views: int, memory_seconds: float
             ) -> dict[str, Any]:
    peer = profile.peer
    cold = _summary([_measured(profile.client, peer, clients, views=views)])
    warm = _summary([_measured(profile.client, peer, clients, views=views)])
    page = profile.page()
    if [pk for pk, _, _ in page.items] != profile.book_pks:
        raise RuntimeError(f"the page does not list the bookmarked books: {page.items[:3]}")
    memory = _memory_run(profile, clients, memory_seconds)

    # The 1-worker client: another gunicorn on the same database and Redis keys, up beside
    # the first (idle while the other is loaded) so that the rounds alternate between them
    # and the machine's other load weighs on both alike.
    single = GunicornServer(**{**client_config, "name": "client-1-worker", "port": free_port()},
                            worker_count=1)
    single.start()
    running.append(single)
    single.wait_ready()
    Profile(client=single, peer=peer, book_pks=profile.book_pks).page()
    _load(single.port, clients, seconds=2)  # its first pages (connections, caches): untimed
    servers = {WORKERS: profile.client, 1: single}
    runs: dict[int, list[dict[str, Any]]] = {WORKERS: [], 1: []}
    for round_ in range(rounds):
        for count in (WORKERS, 1) if round_ % 2 == 0 else (1, WORKERS):
            runs[count].append(
                _measured(servers[count], peer, clients, seconds=seconds / rounds))
    throughput = {count: _summary(count_runs) for count, count_runs in runs.items()}
    return {
        "rounds": rounds,
        "clients": clients,
        "views": views,
        "page_size": PAGE_SIZE,
        "workers": WORKERS,
        "cold": cold,
        "warm": warm,
        "throughput": {str(count): load for count, load in sorted(throughput.items())},
        "ratio": round(throughput[WORKERS]["pages_per_s"] / throughput[1]["pages_per_s"], 2),
        "memory": memory,
        "postgresql": _postgres_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), Python "
                   f"{platform.python_version()}",
    }


def _postgres_version() -> str:
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(host=url.hostname, port=url.port, user=url.username or "postgres",
                         password=url.password or None, dbname="postgres") as connection:
        major, minor = divmod(connection.info.server_version, 10000)
    return f"{major}.{minor}"


def _load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


# -- README -------------------------------------------------------------------------------


def _requests_table(f: dict[str, Any]) -> list[str]:
    endpoints = sorted({*f["cold"]["peer_requests"], *f["warm"]["peer_requests"]})
    lines = [
        f"| peer endpoint | cold: requests per {f['views']:,} views | "
        f"warm: requests per {f['views']:,} views |",
        "| --- | ---: | ---: |",
    ]
    for endpoint in endpoints:
        lines.append(f"| `{endpoint}` | {f['cold']['peer_requests'].get(endpoint, 0):,} | "
                     f"{f['warm']['peer_requests'].get(endpoint, 0):,} |")
    lines.append(f"| all | {sum(f['cold']['peer_requests'].values()):,} | "
                 f"{sum(f['warm']['peer_requests'].values()):,} |")
    return lines


def render(f: dict[str, Any]) -> str:
    """Return the Markdown section of ``benchmarks/README.md``."""
    w = f["workers"]
    t = f["throughput"]
    memory = f["memory"]
    batch = sum(count for endpoint, count in f["cold"]["peer_requests"].items()
                if endpoint.endswith("/batch/"))
    lines = [
        BEGIN,
        "## Production profile: gunicorn workers on PostgreSQL and a shared Redis cache",
        "",
        "`benchmarks/production_benchmark.py`: the servers of `tests/production` (gunicorn "
        f"sync workers, PostgreSQL {f['postgresql']}, Django's `RedisCache` on a throwaway "
        "`redis-server`): a peer (4 workers) exposing books, and a client whose page renders "
        f"{f['page_size']} remote references (`prefetch_related`, then `str()` of each "
        f"target). Load: {f['clients']} threads, each a closed loop of `GET page/` (a new "
        "connection per page: sync workers close them), every answer checked (200, "
        f"{f['page_size']} available books). Measured on {f['machine']}, shared with other "
        f"test runs: load average {f['load_average']['start']} (1, 5, 15 min) at the start, "
        f"{f['load_average']['end']} at the end. The request counts are exact, the times "
        "indicative.",
        "",
        f"Pages/s with a warm shared cache, {f['clients']} concurrent clients, "
        f"{t[str(w)]['seconds']:g} s of load per client in {f['rounds']} alternating rounds "
        "(the 1-worker client is another gunicorn on the same database and Redis keys, up "
        "beside the first and idle while it is loaded). CPU per page: user + system time "
        "of the client's workers, and of the load threads, divided by the pages served:",
        "",
        "| client workers | pages | errors | pages/s | pages/s per round | p50 | p99 | "
        "workers' CPU per page | load threads' CPU per page | requests to the peer |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for count in ("1", str(w)):
        load = t[count]
        lines.append(
            f"| {count} | {load['pages']:,} | {load['errors']} | {load['pages_per_s']} | "
            f"{', '.join(map(str, load['round_pages_per_s']))} | {load['p50_ms']} ms | "
            f"{load['p99_ms']} ms | {load['worker_cpu_ms_per_page']} ms | "
            f"{load['load_cpu_ms_per_page']} ms | {sum(load['peer_requests'].values())} |"
        )
    lines += [
        "",
        f"{w} workers / 1 worker: **{f['ratio']:.2f}x** on {f['machine'].split(', ')[1]} "
        "(the load threads, Redis and PostgreSQL take their share of them too).",
        "",
        f"Requests to the peer per {f['views']:,} page views ({w} client workers, "
        f"{f['clients']} concurrent clients). Cold: the client just started (its workers "
        "hold nothing in memory) and its Redis keys are empty, the first "
        f"{f['clients']} views released at once; warm: the same {f['views']:,} views again.",
        "",
        *_requests_table(f),
        "",
        f"Cold, the page's one (type, page) of {f['page_size']} references cost {batch} "
        f"batch request{'s' * (batch != 1)} to the peer: the {f['clients']} first views "
        f"arrive at once and {w} of them render at the same time (one per sync worker); "
        + ("one asks the peer, the others wait for its answer in Redis (single flight)."
           if batch == 1 else
           "each worker that misses asks (single flight, issue 14 item 3, is to make it 1)."),

        "",
        f"Resident set (`VmRSS`) of each client worker over a {memory['load']['seconds']:g} s "
        f"run of the same load ({memory['load']['pages']:,} pages, "
        f"{memory['load']['errors']} errors, {memory['load']['pages_per_s']} pages/s), "
        "sampled every second:",
        "",
        "| worker | pages served | samples | start | end | max |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number, worker in enumerate(memory["workers"], 1):
        lines.append(f"| {number} | {worker['pages']:,} | {worker['samples']} | "
                     f"{worker['start_mib']} MiB | {worker['end_mib']} MiB | "
                     f"{worker['max_mib']} MiB |")
    lines += [
        "",
        "Reproduce (about 3 minutes; the benchmark starts and stops its own `redis-server`, "
        "and creates and drops the databases `<name>_{template,peer,client}`):",
        "",
        "```sh",
        "DATABASE_URL=postgres://postgres@127.0.0.1:55432/fr_bench_prod \\",
        "    .venv/bin/python benchmarks/production_benchmark.py --write",
        "```",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print (or ``--write``) its section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent load threads")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="of throughput load per worker count, over all rounds")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternations of the 4-worker and the 1-worker client")
    parser.add_argument("--views", type=int, default=1000, help="page views, cold and warm")
    parser.add_argument("--memory-seconds", type=float, default=60.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    if "DATABASE_URL" not in os.environ:
        parser.error("set DATABASE_URL (postgres://user@host:port/name)")
    figures = run(args.clients, args.seconds, args.rounds, args.views, args.memory_seconds)
    print(json.dumps(figures, indent=2))
    section = render(figures)
    print(section)
    if args.write:
        replace_section(section, BEGIN, END)


if __name__ == "__main__":
    main()
