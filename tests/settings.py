"""Settings of the test suite: SQLite by default, PostgreSQL with ``FR_DB=postgres``.

PostgreSQL is read from ``DATABASE_URL`` (``postgres://user:password@host:port/name``),
which ``run_tests.sh`` sets to a throwaway cluster.
"""

import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = "federated-relations-tests"
DEBUG = False
USE_TZ = True
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "federated_relations",
    "through_models",
    "tests.testapp",
    "tests.m2m_app",
    "tests.admin_app",
    "tests.library_app",
    "tests.tenant_app",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The peers the tests name in references. Nothing listens at these URLs: a test that
# needs answers configures fake or in-process peers (tests/fake_peers.py).
FEDERATION = {
    "PROJECT_NAME": "local_project",
    "PEERS": {
        "shop_b": {"URL": "http://127.0.0.1:9/b/", "KEY": "key-b"},
        "shop_c": {"URL": "http://127.0.0.1:9/c/", "KEY": "key-c"},
    },
}


def _database(name_suffix: str) -> dict:
    if os.environ.get("FR_DB", "sqlite") != "postgres":
        # Tests run on in-memory databases; the file name is never written.
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": f"fr_{name_suffix}.sqlite3"}
    url = urlsplit(os.environ["DATABASE_URL"])
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": f"{url.path.lstrip('/') or 'federated_relations'}_{name_suffix}",
        "USER": unquote(url.username or ""),
        "PASSWORD": unquote(url.password or ""),
        "HOST": url.hostname or "",
        "PORT": str(url.port or ""),
    }


DATABASES = {"default": _database("default"), "other": _database("other")}
