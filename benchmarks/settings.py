"""Settings of the benchmarks: the test settings plus the benchmark's own models."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "benchmarks.bench_app"]  # noqa: F405

# A database of its own, so that a benchmark never drops the test suite's test database.
for _alias, _database in DATABASES.items():  # noqa: F405
    if _database["ENGINE"].endswith("postgresql"):
        _database["TEST"] = {"NAME": f"{_database['NAME']}_m2m_benchmark"}
