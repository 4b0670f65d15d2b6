"""Benchmark ``FederatedManyToManyField`` against django-gm2m's ``GM2MField``, side by side.

The same workload runs on ``benchmarks.bench_app``'s ``GSource.videos`` (``GM2MField``) and
``FSource.videos`` (``FederatedManyToManyField``), each declaring five target models of its
own (so that deleting targets runs one field's handling only):

* add: 1,000 sources each add 10 targets, 10,000 targets across 5 models;
* prefetch: ``prefetch_related("videos")`` over the 1,000 sources x 10 targets;
* reverse: ``movie.<source>_set.all()`` for 500 targets, then a reverse
  ``prefetch_related`` over 500 targets (gm2m's reverse prefetch builds one OR-ed condition
  per target, which SQLite refuses for the 2,000 movies: "Expression tree is too large");
* delete: 1,000 targets deleted in one ``queryset.delete()``, cascading to the rows.

Each step prints wall time and query count for both fields and the ratios ours/gm2m.

Usage (from the repository root)::

    .venv/bin/python benchmarks/m2m_benchmark.py [--sources 1000] [--per-source 10]
        [--write]    # replace the "Many-to-many" section of benchmarks/README.md
    FR_DB=postgres DATABASE_URL=postgres://... .venv/bin/python benchmarks/m2m_benchmark.py

A throwaway test database is created (SQLite in memory, or PostgreSQL) and destroyed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

__all__ = ["main", "run"]

README = ROOT / "benchmarks" / "README.md"
SECTION = "## Many-to-many: FederatedManyToManyField vs gm2m"
STEPS = ["add", "prefetch", "reverse access", "reverse prefetch", "delete (cascade)"]


def _measure(function: Callable[[], Any]) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    connection.queries_log.clear()  # its 9,000 entries cap would hide queries
    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
    return elapsed, len(ctx)


def workload(
    source_model: Any, target_models: list[Any], sources: int, per_source: int
) -> dict[str, Any]:
    """Run the workload on one source model; return ``{step: (seconds, queries)}``."""
    from django.db import transaction

    Movie, Documentary = target_models[0], target_models[1]  # noqa: N806
    per_model = sources * per_source // len(target_models)
    with transaction.atomic():  # not timed
        targets = {
            model: model.objects.bulk_create([model(title=str(i)) for i in range(per_model)])
            for model in target_models
        }
        if targets[Movie][0].pk is None:  # backends that do not return pks
            targets = {m: list(m.objects.order_by("pk")) for m in target_models}
    flat = [obj for index in range(per_model) for obj in
            (targets[model][index] for model in target_models)]
    source_model.objects.bulk_create([source_model(name=str(i)) for i in range(sources)])
    users = list(source_model.objects.order_by("pk"))
    # One add per model first, so both fields have every reverse relation (not timed).
    users[0].videos.add(*(targets[model][0] for model in target_models))
    users[0].videos.clear()
    figures = {}

    def add() -> None:
        for index, user in enumerate(users):
            user.videos.add(*flat[index * per_source:(index + 1) * per_source])

    def prefetch() -> None:
        for user in source_model.objects.prefetch_related("videos"):
            assert len(list(user.videos.all())) == per_source

    accessor = f"{source_model._meta.model_name}_set"

    def reverse_access() -> None:
        for movie in targets[Movie][:500]:
            list(getattr(movie, accessor).all())

    def reverse_prefetch() -> None:
        # 500 targets: gm2m ORs one condition per target, which SQLite refuses past ~1000.
        pks = [movie.pk for movie in targets[Movie][:500]]
        for movie in Movie.objects.filter(pk__in=pks).prefetch_related(accessor):
            list(getattr(movie, accessor).all())

    def delete() -> None:
        # Batches of 250: gm2m ORs one condition per deleted target, which SQLite refuses
        # for 1,000 at once (see one_call below).
        pks = [movie.pk for movie in targets[Movie][:1000]]
        for start in range(0, len(pks), 250):
            Movie.objects.filter(pk__in=pks[start:start + 250]).delete()

    for name, step in zip(STEPS, [add, prefetch, reverse_access, reverse_prefetch, delete]):
        if name in ("prefetch", "reverse access", "reverse prefetch"):
            # Read-only steps: the best of 3 runs, to be less at the mercy of other load.
            figures[name] = min(_measure(step) for _ in range(3))
        else:
            figures[name] = _measure(step)
    figures["one_call"] = _delete_in_one_call(Documentary, targets[Documentary][:1000])
    # Leave an empty database for the other field (in batches: gm2m's OR-ed conditions).
    source_model.objects.all().delete()
    for model in target_models:
        pks = list(model.objects.values_list("pk", flat=True))
        for start in range(0, len(pks), 250):
            model.objects.filter(pk__in=pks[start:start + 250]).delete()
    return figures


def _delete_in_one_call(model: Any, objs: list[Any]) -> str:
    """Return "ok" if one ``queryset.delete()`` of ``objs`` works, else the error (rolled back)."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            model.objects.filter(pk__in=[obj.pk for obj in objs]).delete()
            transaction.set_rollback(True)
    except DatabaseError as error:
        return f"fails: {error}"
    return "ok"


def run(sources: int, per_source: int) -> dict[str, Any]:
    """Create a test database, run both workloads, destroy it; return the figures."""
    import django
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    django.setup()
    from benchmarks.bench_app.models import F_TARGETS, G_TARGETS, FSource, GSource
    from federated_relations.models import GenericContentType

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        GenericContentType.objects.clear_cache()
        results = {
            "gm2m": workload(GSource, G_TARGETS, sources, per_source),
            "ours": workload(FSource, F_TARGETS, sources, per_source),
        }
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    return {
        "results": results,
        "sources": sources,
        "per_source": per_source,
        "vendor": connection.vendor,
        "python": platform.python_version(),
        "django": django.get_version(),
    }


def table(figures: dict[str, Any]) -> str:
    """Return the figures as a Markdown table."""
    gm2m, ours = figures["results"]["gm2m"], figures["results"]["ours"]
    lines = [
        f"{figures['sources']:,} sources x {figures['per_source']} targets, "
        f"{figures['vendor']}, Python {figures['python']}, Django {figures['django']}:",
        "",
        "| step | gm2m time | ours time | ratio | gm2m queries | ours queries | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for step in STEPS:
        (g_time, g_queries), (o_time, o_queries) = gm2m[step], ours[step]
        lines.append(
            f"| {step} | {g_time:.3f} s | {o_time:.3f} s | {o_time / g_time:.2f} | "
            f"{g_queries:,} | {o_queries:,} | {o_queries / max(g_queries, 1):.2f} |"
        )
    lines += [
        "",
        f"One `queryset.delete()` of {min(figures['sources'], 1000):,} targets: gm2m "
        f"{gm2m['one_call']}; ours {ours['one_call']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and, with ``--write``, update the README."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--per-source", type=int, default=10)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    figures = run(args.sources, args.per_source)
    output = table(figures)
    print(output)
    if args.write:
        # One block per database vendor, replaced in place on later runs.
        begin = f"<!-- m2m-benchmark-{figures['vendor']}:begin -->"
        end = f"<!-- m2m-benchmark-{figures['vendor']}:end -->"
        text = README.read_text() if README.exists() else "# Benchmarks\n"
        block = f"{begin}\n{output}\n{end}"
        if begin in text:
            head, _, rest = text.partition(begin)
            _, _, tail = rest.partition(end)
            text = head + block + tail
        else:
            if SECTION not in text:
                text = text.rstrip("\n") + f"\n\n{SECTION}\n"
            text = text.rstrip("\n") + f"\n\n{block}\n"
        README.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
