"""Settings of a peer server started by the integration tests (one process per peer).

Everything that differs between peers comes from the environment, so one settings
module serves them all:

* ``FR_PEER_DB``: the path of the peer's own SQLite database;
* ``FR_PEER_FEDERATION``: its ``FEDERATION`` setting, as JSON;
* ``FR_PEER_PG_DB``: instead of SQLite, this PostgreSQL database (of ``DATABASE_URL``).
"""

from __future__ import annotations

import json
import os

from tests.settings import *  # noqa: F403 - the same apps and models as the test suite

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.integration.peer_urls"
MIDDLEWARE = ["tests.integration.peer_urls.ChaosMiddleware", *MIDDLEWARE]  # noqa: F405
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("FR_PEER_DB", ":memory:"),
        # Requests are served by threads; wait for the write lock instead of failing.
        # Test servers: no fsync (the databases are thrown away), WAL for concurrent reads.
        "OPTIONS": {
            "timeout": 20,
            # Every transaction takes the write lock first: a read transaction that
            # later writes would fail at once (SQLITE_BUSY_SNAPSHOT) when the delivery
            # thread wrote meanwhile, instead of waiting for the lock.
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL;",
        },
    }
}
# Room for every remote object of a benchmark (LocMemCache keeps 300 by default).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}
if os.environ.get("FR_PEER_PG_DB"):
    # A PostgreSQL database instead (delivery workers on PostgreSQL), on DATABASE_URL's server.
    from urllib.parse import unquote, urlsplit

    _url = urlsplit(os.environ["DATABASE_URL"])
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["FR_PEER_PG_DB"],
            "USER": unquote(_url.username or ""),
            "PASSWORD": unquote(_url.password or ""),
            "HOST": _url.hostname or "",
            "PORT": str(_url.port or ""),
        }
    }
FEDERATION = json.loads(os.environ.get("FR_PEER_FEDERATION", '{"PROJECT_NAME": "peer"}'))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"federated_relations": {"handlers": ["stderr"], "level": "WARNING"}},
}
