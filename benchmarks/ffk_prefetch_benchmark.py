"""Benchmark ``prefetch_related`` of a ``FederatedForeignKey`` against ``GenericForeignKey``.

Both sides reference the same three local target models (``benchmarks.bench_app``'s
``PrefetchTarget1..3``, 1,000 rows each by default) from 3,000 rows each with the object id
in a ``CharField``: ``GReference.content_object`` (``GenericForeignKey`` over
``ContentType``) and ``FReference.content_object`` (``FederatedForeignKey`` over
``GenericContentType``). Each side's references point at the same targets, in the same
order. One measurement is ``list(Reference.objects.prefetch_related("content_object"))``
followed by reading every ``content_object`` (which must cost no query):

* warm: the type caches (``ContentType`` and ``GenericContentType``) are filled first;
* cold: both type caches are cleared before the measurement.

The sides alternate (GFK first on even repetitions, ours first on odd ones), each
measurement after a ``gc.collect()``; the table gives the median of ``--repeat`` runs, the
query count of each side and the time ratios ours/GFK, of wall time and of the process's
CPU time (which other load on the machine disturbs less).

Usage (from the repository root)::

    .venv/bin/python benchmarks/ffk_prefetch_benchmark.py [--per-model 1000] [--repeat 15]
        [--write]    # replace this vendor's block in benchmarks/README.md
    FR_DB=postgres DATABASE_URL=postgres://... .venv/bin/python \\
        benchmarks/ffk_prefetch_benchmark.py --write

A throwaway test database is created (SQLite in memory, or PostgreSQL) and destroyed.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

from benchmarks.readme import replace_section  # noqa: E402

__all__ = ["main", "measure", "run"]

SIDES = ("gfk", "ours")
MODES = ("warm", "cold")


def _clear_type_caches() -> None:
    from django.contrib.contenttypes.models import ContentType

    from federated_relations.models import GenericContentType

    ContentType.objects.clear_cache()
    GenericContentType.objects.clear_cache()


def _warm_type_caches(targets: list[Any]) -> None:
    from django.contrib.contenttypes.models import ContentType

    from federated_relations.models import GenericContentType

    # By id too: the prefetch reads types by the ids stored in the rows.
    for ct in ContentType.objects.get_for_models(*targets).values():
        ContentType.objects.get_for_id(ct.pk)
    GenericContentType.objects.get_for_ids(
        *(ct.pk for ct in GenericContentType.objects.get_for_models(*targets).values())
    )


def measure(reference_model: Any, targets: list[Any], mode: str) -> tuple[float, float, int]:
    """Return (wall seconds, CPU seconds, queries) of one prefetch plus reading every reference.

    The CPU time of this process is less at the mercy of other load on a shared machine.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if mode == "cold":
        _clear_type_caches()
    else:
        _warm_type_caches(targets)
    connection.queries_log.clear()
    gc.collect()
    with CaptureQueriesContext(connection) as ctx:
        start, start_cpu = time.perf_counter(), time.process_time()
        references = list(reference_model.objects.prefetch_related("content_object"))
        missing = sum(reference.content_object is None for reference in references)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if missing:
        raise AssertionError(f"{missing} references of {reference_model.__name__} are None.")
    return elapsed, cpu, len(ctx)


def _populate(per_model: int) -> int:
    """Create the targets and the references of both sides (same targets, same order)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction

    from benchmarks.bench_app.models import PREFETCH_TARGETS, FReference, GReference
    from federated_relations.models import GenericContentType

    with transaction.atomic():
        for model in PREFETCH_TARGETS:
            model.objects.bulk_create([model(title=str(i)) for i in range(per_model)])
        pks = {
            model: list(model.objects.values_list("pk", flat=True)) for model in PREFETCH_TARGETS
        }
        g_types = ContentType.objects.get_for_models(*PREFETCH_TARGETS)
        f_types = GenericContentType.objects.get_for_models(*PREFETCH_TARGETS)
        pairs = [
            (model, str(pks[model][index]))
            for index in range(per_model)
            for model in PREFETCH_TARGETS
        ]
        GReference.objects.bulk_create(
            [GReference(content_type=g_types[model], object_id=pk) for model, pk in pairs]
        )
        FReference.objects.bulk_create(
            [FReference(content_type=f_types[model], object_id=pk) for model, pk in pairs]
        )
    return len(pairs)


def _targets(reference_model: Any) -> list[tuple[type, Any]]:
    """Return (model, pk) of every target, in the order of the references."""
    references = reference_model.objects.order_by("pk").prefetch_related("content_object")
    return [(type(ref.content_object), ref.content_object.pk) for ref in references]


def run(per_model: int, repeat: int) -> dict[str, Any]:
    """Create a test database, measure both sides in turn, destroy it; return the figures."""
    import django
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    django.setup()
    from benchmarks.bench_app.models import PREFETCH_TARGETS, FReference, GReference

    models = {"gfk": GReference, "ours": FReference}
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        references = _populate(per_model)
        times: dict[tuple[str, str], list[float]] = {
            (side, mode): [] for side in SIDES for mode in MODES
        }
        cpu_times: dict[tuple[str, str], list[float]] = {key: [] for key in times}
        queries: dict[tuple[str, str], set[int]] = {key: set() for key in times}
        for side in SIDES:  # one untimed run each: imports, statement caches
            measure(models[side], PREFETCH_TARGETS, "warm")
        if _targets(GReference) != _targets(FReference):
            raise AssertionError("The two sides do not find the same targets.")
        for index in range(repeat):
            order = SIDES if index % 2 == 0 else SIDES[::-1]
            for mode in MODES:
                for side in order:
                    seconds, cpu, count = measure(models[side], PREFETCH_TARGETS, mode)
                    times[side, mode].append(seconds)
                    cpu_times[side, mode].append(cpu)
                    queries[side, mode].add(count)
        vendor = connection.vendor
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    return {
        "references": references,
        "models": len(PREFETCH_TARGETS),
        "repeat": repeat,
        "median": {f"{side} {mode}": statistics.median(times[side, mode])
                   for side, mode in times},
        "cpu": {f"{side} {mode}": statistics.median(cpu_times[side, mode])
                for side, mode in cpu_times},
        "queries": {f"{side} {mode}": sorted(queries[side, mode]) for side, mode in queries},
        "vendor": vendor,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), Python "
                   f"{platform.python_version()}, Django {django.get_version()}",
    }


def _markers(vendor: str) -> tuple[str, str]:
    return (f"<!-- ffk-prefetch-benchmark-{vendor}:begin -->",
            f"<!-- ffk-prefetch-benchmark-{vendor}:end -->")


def render(f: dict[str, Any]) -> str:
    """Return this vendor's Markdown block of ``benchmarks/README.md``."""
    begin, end = _markers(f["vendor"])
    lines = [
        begin,
        f"## Prefetch: FederatedForeignKey vs GenericForeignKey ({f['vendor']})",
        "",
        f"`benchmarks/ffk_prefetch_benchmark.py`: `prefetch_related(\"content_object\")` over "
        f"{f['references']:,} references to {f['models']} local models (object ids in a "
        "`CharField`), then reading every reference; `GenericForeignKey` and "
        "`FederatedForeignKey` side by side in one process on one database, alternating, "
        f"median of {f['repeat']} runs each, wall time and this process's CPU time. Warm: "
        "the type caches are filled; cold: `ContentType` and `GenericContentType` caches "
        "cleared first. Measured on "
        f"{f['machine']}, a machine shared with other test runs (query counts are exact, "
        "times indicative).",
        "",
        "| type cache | GFK wall | ours wall | ratio | GFK CPU | ours CPU | ratio "
        "| GFK queries | ours queries |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode in MODES:
        wall = [f["median"][f"{side} {mode}"] for side in SIDES]
        cpu = [f["cpu"][f"{side} {mode}"] for side in SIDES]
        counts = ["/".join(str(n) for n in f["queries"][f"{side} {mode}"]) for side in SIDES]
        lines.append(
            f"| {mode} | {wall[0] * 1000:.1f} ms | {wall[1] * 1000:.1f} ms | "
            f"{wall[1] / wall[0]:.2f} | {cpu[0] * 1000:.1f} ms | {cpu[1] * 1000:.1f} ms | "
            f"{cpu[1] / cpu[0]:.2f} | {counts[0]} | {counts[1]} |"
        )
    lines += [
        "",
        "Queries: the references, then one per target model; a cold type cache adds one "
        f"query for the {f['models']} types on our side (`get_for_ids()`) and one per type "
        f"on `GenericForeignKey`'s (`get_for_id()`). Reading the {f['references']:,} "
        "references afterwards costs no query on either side.",
        "",
        "```sh",
        ".venv/bin/python benchmarks/ffk_prefetch_benchmark.py --write",
        "FR_DB=postgres DATABASE_URL=postgres://... "
        ".venv/bin/python benchmarks/ffk_prefetch_benchmark.py --write",
        "```",
        end,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its block and, with ``--write``, update the README."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-model", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    figures = run(args.per_model, args.repeat)
    section = render(figures)
    print(section)
    if args.write:
        replace_section(section, *_markers(figures["vendor"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
