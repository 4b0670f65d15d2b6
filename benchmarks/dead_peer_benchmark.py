"""A dead peer must not take a page down: a page-like loop over 10,000 references.

N references (default 10,000) to books on K = 3 peers, interleaved so that every page
holds references to every peer: two peers are real servers (``tests/integration``
processes, own SQLite databases), the third is dead. The loop renders pages of
``--page`` references (default 100) the way a view does: ``prefetch_related`` of the
``FederatedForeignKey``, then ``str()`` of every target (a placeholder for the dead peer's,
``ON_REMOTE_ERROR = "placeholder"``). ``TIMEOUT`` is ``--timeout`` seconds (default 1).

Two ways to be dead:

* ``refused``: nothing listens on the port (connections are refused at once);
* ``blackhole``: a socket listens but never answers (each request costs a full TIMEOUT).

The target (issue 5): the whole loop costs at most one TIMEOUT per page of the dead peer,
not one per object; with the circuit breaker it costs about ``failure_threshold`` (3)
TIMEOUTs in all, plus one trial per ``cooldown`` (30 s). For reference, the first
``--no-breaker-pages`` pages are rendered again with the breaker disabled.

Usage (from the repository root)::

    .venv/bin/python benchmarks/dead_peer_benchmark.py [--n 10000] [--page 100]
        [--timeout 1.0] [--no-breaker-pages 10] [--write]

``--write`` replaces the "Dead peer" section of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.readme import replace_section  # noqa: E402
from tests.integration.servers import PeerServer, free_port, migrate_template  # noqa: E402

__all__ = ["main", "run"]

BEGIN = "<!-- dead-peer-benchmark:begin -->"
END = "<!-- dead-peer-benchmark:end -->"
CLIENT = "dead_peer_client"
LIVE = ("peer_1", "peer_2")
DEAD = "peer_3"


def run(n: int, page: int, timeout: float, no_breaker_pages: int) -> dict[str, Any]:
    """Start the live peers, run the loop against each kind of dead peer; return figures."""
    workdir = Path(tempfile.mkdtemp(prefix="fr-dead-peer-"))
    servers: list[PeerServer] = []
    blackhole = socket.socket()
    try:
        template = migrate_template(workdir)
        keys = {name: f"dead-peer-key-{name}" for name in (*LIVE, DEAD)}
        for name in LIVE:
            server = PeerServer(name, workdir, {
                "PROJECT_NAME": name,
                "PEERS": {CLIENT: {"URL": "http://127.0.0.1:9/federation/", "KEY": keys[name]}},
                "EXPOSE": {"library_app.Book": ["title", "price"]},
            })
            shutil.copyfile(template, server.db)
            server.start()
            servers.append(server)
        for server in servers:
            server.wait_ready()
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(1024)  # accepts connections (the kernel does), never answers
        dead_urls = {
            "refused": f"http://127.0.0.1:{free_port()}/federation/",
            "blackhole": f"http://127.0.0.1:{blackhole.getsockname()[1]}/federation/",
        }
        client_db = workdir / "client.sqlite3"
        shutil.copyfile(template, client_db)
        os.environ.update(
            DJANGO_SETTINGS_MODULE="tests.integration.peer_settings",
            FR_DB="sqlite",
            FR_PEER_DB=str(client_db),
            FR_PEER_FEDERATION=json.dumps({"PROJECT_NAME": CLIENT}),
        )
        return _measure(servers, keys, dead_urls, n, page, timeout, no_breaker_pages)
    finally:
        blackhole.close()
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(servers: list[PeerServer], keys: dict[str, str], dead_urls: dict[str, str],
             n: int, page: int, timeout: float, no_breaker_pages: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.cache import cache
    from django.test.utils import override_settings

    from federated_relations.client import FederationClient, reset_clients
    from federated_relations.models import GenericContentType
    from federated_relations.test import capture_requests
    from tests.testapp.models import TaggedItem

    per_peer = -(-n // 3)
    pks: dict[str, list[str]] = {}
    for server in servers:
        pks[server.name] = server.create(
            "library_app.Book",
            *({"title": f"{server.name}-{i}", "price": "1.00"} for i in range(per_peer)),
        )
    pks[DEAD] = [str(i) for i in range(1, per_peer + 1)]
    types = {
        name: GenericContentType.objects.get_for_remote(name, "library_app", "book")
        for name in pks
    }
    order = (*LIVE, DEAD)
    TaggedItem.objects.bulk_create(
        TaggedItem(tag="page", content_type=types[order[i % 3]],
                   object_id=pks[order[i % 3]][i // 3])
        for i in range(n)
    )
    ids = list(TaggedItem.objects.order_by("pk").values_list("pk", flat=True))
    pages = [ids[start:start + page] for start in range(0, len(ids), page)]

    def render(page_ids: list[int]) -> tuple[int, int]:
        items = TaggedItem.objects.filter(pk__in=page_ids).prefetch_related("content_object")
        texts = [str(item.content_object) for item in items]
        return len(texts), sum("unavailable" in text for text in texts)

    def loop(selected: list[list[int]]) -> dict[str, Any]:
        cache.clear()
        reset_clients()
        rendered = placeholders = 0
        with capture_requests() as log:
            start = time.perf_counter()
            for page_ids in selected:
                count, unavailable = render(page_ids)
                rendered += count
                placeholders += unavailable
            seconds = time.perf_counter() - start
        return {
            "pages": len(selected),
            "references": rendered,
            "placeholders": placeholders,
            "seconds": round(seconds, 2),
            "dead_requests": len(log.to(DEAD)),
            "live_requests": len(log) - len(log.to(DEAD)),
            "bound_seconds": round(len(selected) * timeout, 1),
        }

    results: dict[str, Any] = {}
    for mode, dead_url in dead_urls.items():
        federation = {
            "PROJECT_NAME": CLIENT,
            "PEERS": {
                **{s.name: {"URL": s.url, "KEY": keys[s.name]} for s in servers},
                DEAD: {"URL": dead_url, "KEY": keys[DEAD]},
            },
            "TIMEOUT": timeout,
            "CACHE_TTL": 300,
            "ON_REMOTE_ERROR": "placeholder",
        }
        with override_settings(FEDERATION=federation):
            results[mode] = loop(pages)
            threshold = FederationClient.failure_threshold
            FederationClient.failure_threshold = 10**9  # no breaker: the reference
            try:
                results[f"{mode}_no_breaker"] = loop(pages[:no_breaker_pages])
            finally:
                FederationClient.failure_threshold = threshold
    return {
        "n": n,
        "page": page,
        "timeout": timeout,
        "threshold": FederationClient.failure_threshold,
        "cooldown": FederationClient.cooldown,
        "results": results,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), Python "
                   f"{platform.python_version()}",
    }


def render(f: dict[str, Any]) -> str:
    """Return the Markdown section of ``benchmarks/README.md``."""
    r = f["results"]
    lines = [
        BEGIN,
        "## Dead peer: a page-like loop over 10,000 references",
        "",
        f"`benchmarks/dead_peer_benchmark.py`: {f['n']:,} `FederatedForeignKey` references "
        "to books on 3 peers, interleaved; two peers are real servers (separate processes), "
        f"the third is dead. Pages of {f['page']} references are rendered as a view does "
        "(`prefetch_related`, then `str()` of each target; placeholders for the dead peer), "
        f"`TIMEOUT` = {f['timeout']:g} s, breaker after {f['threshold']} failures for "
        f"{f['cooldown']:g} s. Bound (issue 5): one `TIMEOUT` per page. Measured on "
        f"{f['machine']}, shared with other test runs (request counts are exact, times "
        "indicative).",
        "",
        "| dead peer | breaker | pages | references | placeholders | requests to the dead "
        "peer | requests to the live peers | total time | bound (pages x TIMEOUT) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode in ("refused", "blackhole"):
        for suffix, breaker in (("", "on"), ("_no_breaker", "off")):
            x = r[mode + suffix]
            lines.append(
                f"| {mode} | {breaker} | {x['pages']} | {x['references']:,} | "
                f"{x['placeholders']:,} | {x['dead_requests']} | {x['live_requests']} | "
                f"{x['seconds']} s | {x['bound_seconds']} s |"
            )
    lines += [
        "",
        "`refused`: nothing listens on the dead peer's port; `blackhole`: it accepts "
        "connections and never answers, so each request to it costs a full `TIMEOUT` "
        "until the breaker opens; after that the dead peer costs nothing but one trial "
        "request per cooldown. The rows with the breaker off (the first pages only) show "
        "what each page would cost without it.",
        "",
        "Reproduce:",
        "",
        "```sh",
        ".venv/bin/python benchmarks/dead_peer_benchmark.py --write",
        "```",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print (or ``--write``) its section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--no-breaker-pages", type=int, default=10)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    figures = run(args.n, args.page, args.timeout, args.no_breaker_pages)
    print(json.dumps(figures, indent=2))
    section = render(figures)
    print(section)
    if args.write:
        replace_section(section, BEGIN, END)


if __name__ == "__main__":
    main()
