"""Benchmark the resolver against real peers: batching, parallelism and the cache.

N references (default 1,000) spread over K peer servers (default 3), each peer delaying
every federation request by 100 ms. Measured in one run:

* cold ``prefetch_related`` over the N references: requests made (target K) and wall
  time (target under 1.5 x one round trip, since the peers are asked in parallel), the
  median of ``--cold-runs`` runs, each with an empty cache and new connections;
* the same prefetch warm: requests (target 0) and wall time;
* the naive reference: one request per object, in a loop, without the cache;
* the batch endpoint's throughput (no delay): objects and requests per second.

Usage (from the repository root)::

    .venv/bin/python benchmarks/federation_benchmark.py [--n 1000] [--k 3] [--delay 0.1]
        [--cold-runs 5] [--write]    # replace the "Federation" section of benchmarks/README.md

The peers are ``tests/integration`` servers (separate processes, own SQLite databases);
this process is the client, on a SQLite database of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.readme import README, replace_section  # noqa: E402
from tests.integration.servers import PeerServer, migrate_template  # noqa: E402

__all__ = ["main", "run"]

BEGIN = "<!-- federation-benchmark:begin -->"
END = "<!-- federation-benchmark:end -->"
CLIENT = "bench_client"


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def run(
    n: int, k: int, delay: float, naive_limit: int | None = None, cold_runs: int = 5
) -> dict[str, Any]:
    """Start K peers, run every measurement, stop the peers; return the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="fr-bench-"))
    servers: list[PeerServer] = []
    try:
        template = migrate_template(workdir)
        keys = {f"peer_{i}": f"bench-key-{i}" for i in range(1, k + 1)}
        for name, key in keys.items():
            server = PeerServer(name, workdir, {
                "PROJECT_NAME": name,
                # The client never serves; its URL only has to be well formed.
                "PEERS": {CLIENT: {"URL": "http://127.0.0.1:9/federation/", "KEY": key}},
                "EXPOSE": {"library_app.Book": ["title", "price"]},
            })
            shutil.copyfile(template, server.db)
            server.start()
            servers.append(server)
        for server in servers:
            server.wait_ready()
        client_db = workdir / "client.sqlite3"
        shutil.copyfile(template, client_db)
        os.environ.update(
            DJANGO_SETTINGS_MODULE="tests.integration.peer_settings",
            FR_DB="sqlite",
            FR_PEER_DB=str(client_db),
            FR_PEER_FEDERATION=json.dumps({
                "PROJECT_NAME": CLIENT,
                "PEERS": {s.name: {"URL": s.url, "KEY": keys[s.name]} for s in servers},
                "TIMEOUT": 10.0,
                "CACHE_TTL": 300,
            }),
        )
        return _measure(servers, n, delay, naive_limit, cold_runs)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(
    servers: list[PeerServer], n: int, delay: float, naive_limit: int | None, cold_runs: int
) -> dict[str, Any]:
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.test.utils import override_settings

    from federated_relations import peers, resolver
    from federated_relations.client import get_client, reset_clients
    from federated_relations.models import GenericContentType
    from federated_relations.test import capture_requests
    from tests.testapp.models import TaggedItem

    k = len(servers)
    references: list[tuple[GenericContentType, str]] = []
    for index, server in enumerate(servers):
        count = n // k + (1 if index < n % k else 0)
        pks = server.create(
            "library_app.Book", *({"title": f"{server.name}-{i}", "price": "1.00"}
                                  for i in range(count))
        )
        content_type = GenericContentType.objects.get_for_remote(
            server.name, "library_app", "book"
        )
        references += [(content_type, pk) for pk in pks]
    TaggedItem.objects.bulk_create(
        TaggedItem(tag="bench", content_type=ct, object_id=pk) for ct, pk in references
    )
    for server in servers:
        server.control(delay=delay)

    def prefetch() -> list[Any]:
        items = list(TaggedItem.objects.prefetch_related("content_object"))
        assert all(item.content_object.is_available for item in items)
        return items

    # One round trip: a single fresh lookup of one object (with its 100 ms delay).
    round_trips = []
    for ct, pk in references[:5]:
        seconds, _ = _timed(lambda ct=ct, pk=pk: peers.check_existence(ct, [pk]))
        round_trips.append(seconds)
    round_trip = statistics.median(round_trips)

    # One cold run is at the mercy of whatever else the shared CPUs run: take the median.
    cold_times, cold_requests = [], set()
    for _ in range(cold_runs):
        cache.clear()
        reset_clients()  # cold: new connections too
        with capture_requests() as cold_log:
            seconds, items = _timed(prefetch)
        assert len(items) == n
        cold_times.append(seconds)
        cold_requests.add(len(cold_log))
    (cold_request_count,) = cold_requests  # every cold run asks the same
    cold_seconds = statistics.median(cold_times)
    with capture_requests() as warm_log:
        warm_seconds, _ = _timed(prefetch)

    no_cache = {**settings.FEDERATION, "CACHE_TTL": 0}
    with override_settings(FEDERATION=no_cache), capture_requests() as naive_log:
        def naive() -> None:
            for ct, pk in references[:naive_limit]:
                resolver.get_object(ct, pk=pk)

        naive_seconds, _ = _timed(naive)

    # Throughput of the batch endpoint itself: no delay, pages of the peer's cap.
    server = servers[0]
    server.control(delay=0.0)
    client = get_client(server.name)
    max_batch = client.max_batch()
    pks = [pk for ct, pk in references if ct.project == server.name]
    repeats = 30
    with capture_requests() as batch_log:
        batch_seconds, _ = _timed(
            lambda: [client.fetch("library_app", "book", pks) for _ in range(repeats)]
        )
    return {
        "n": n,
        "k": k,
        "delay_ms": round(delay * 1000),
        "round_trip_ms": round(round_trip * 1000, 1),
        "cold_runs": cold_runs,
        "cold_requests": cold_request_count,
        "cold_ms": round(cold_seconds * 1000, 1),
        "cold_round_trips": round(cold_seconds / round_trip, 2),
        "cold_min_round_trips": round(min(cold_times) / round_trip, 2),
        "cold_max_round_trips": round(max(cold_times) / round_trip, 2),
        "warm_requests": len(warm_log),
        "warm_ms": round(warm_seconds * 1000, 1),
        "naive_requests": len(naive_log),
        "naive_ms": round(naive_seconds * 1000, 1),
        "speedup": round(naive_seconds / cold_seconds, 1),
        "max_batch": max_batch,
        "batch_pks": len(pks),
        "batch_requests": len(batch_log),
        "batch_objects_per_s": round(len(pks) * repeats / batch_seconds),
        "batch_requests_per_s": round(len(batch_log) / batch_seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), Python "
                   f"{platform.python_version()}",
    }


def render(figures: dict[str, Any]) -> str:
    """Return the Markdown section of ``benchmarks/README.md``."""
    f = figures
    cold = (f"{f['cold_ms']} ms ({f['cold_round_trips']} round trips; runs from "
            f"{f['cold_min_round_trips']} to {f['cold_max_round_trips']})")
    rows = [
        (f"cold `prefetch_related`, median of {f['cold_runs']} runs (target: K requests, "
         "< 1.5 round trips)", f["cold_requests"], cold),
        ("warm `prefetch_related` (target: 0 requests)", f["warm_requests"],
         f"{f['warm_ms']} ms"),
        ("naive loop, one request per object, no cache (reference)", f["naive_requests"],
         f"{f['naive_ms']} ms"),
    ]
    table = "\n".join(f"| {name} | {requests} | {time} |" for name, requests, time in rows)
    return f"""{BEGIN}
## Federation: resolving remote references

`benchmarks/federation_benchmark.py`: N = {f['n']:,} `FederatedForeignKey` references spread
over K = {f['k']} real peer servers (separate processes, own SQLite databases), each delaying
every federation request by {f['delay_ms']} ms. One round trip (one object, uncached) took
{f['round_trip_ms']} ms. Measured in one run on {f['machine']}:

| measurement | requests | wall time |
| --- | ---: | ---: |
{table}

The cold prefetch is {f['speedup']}x faster than the naive loop: one batched request per
(peer, type), the peers asked in parallel (the K requests overlap). Beyond the delay, a
cold prefetch spends its time in the peers serializing N/K objects each and in the client
decoding, validating and caching N objects, on CPUs that the K peer processes share with
the client here; the warm figure is the client's share.

Batch endpoint throughput (no delay, {f['batch_pks']} pks per lookup, the peer's cap is
{f['max_batch']} per request): {f['batch_objects_per_s']:,} objects/s,
{f['batch_requests_per_s']} requests/s ({f['batch_requests']} requests).

```sh
.venv/bin/python benchmarks/federation_benchmark.py --write   # about 2 minutes (naive loop)
```
{END}
"""


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print (and optionally write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="references (1000)")
    parser.add_argument("--k", type=int, default=3, help="peer servers (3)")
    parser.add_argument("--delay", type=float, default=0.1, help="peer delay, seconds (0.1)")
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    parser.add_argument(
        "--naive-limit", type=int, help="time the naive loop over this many references only"
    )
    parser.add_argument("--cold-runs", type=int, default=5, help="cold prefetches timed (5)")
    options = parser.parse_args(argv)
    figures = run(options.n, options.k, options.delay, options.naive_limit, options.cold_runs)
    print(json.dumps(figures, indent=2))
    section = render(figures)
    print(section)
    if options.write:
        replace_section(section, BEGIN, END)
        print(f"Wrote {README.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
