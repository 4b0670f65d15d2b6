"""Settings of a production-profile server: a peer's settings on PostgreSQL and Redis.

Everything comes from the environment (``servers.GunicornServer.environ``), on top of
``tests.integration.peer_settings`` (``FR_PEER_PG_DB``, ``FR_PEER_FEDERATION``):

* ``REDIS_URL``: the Redis server of ``CACHES["default"]`` (Django's ``RedisCache``);
* ``FR_PROD_KEY_PREFIX``: this server's key prefix there (so that servers do not collide),
  also the prefix of its request counters (``urls.SharedChaosMiddleware``).
"""

from __future__ import annotations

import os

from tests.integration.peer_settings import *  # noqa: F403 - PostgreSQL of DATABASE_URL
from tests.integration.peer_settings import MIDDLEWARE

ROOT_URLCONF = "tests.production.urls"
# The integration peers count requests per process; here every worker counts in Redis.
MIDDLEWARE = [
    "tests.production.urls.SharedChaosMiddleware",
    *(name for name in MIDDLEWARE if not name.endswith(".ChaosMiddleware")),
]
PRODUCTION_KEY_PREFIX = os.environ["FR_PROD_KEY_PREFIX"]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
        "KEY_PREFIX": PRODUCTION_KEY_PREFIX,
    }
}
# Sync workers serve one request at a time: each keeps its connection between requests.
DATABASES["default"].update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)  # noqa: F405
