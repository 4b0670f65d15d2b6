"""Settings of example_project: "Riverside Books", the shop whose pages show both shops.

Its ``/books/`` page lists its own books and, through ``federated_relations``, the books of
remote_project (the peer ``shop_b``). Everything a demo run may change comes from the
environment, which ``launch_demo.py`` (run by ``run_demo.sh``) sets: the ports of both
servers, the data directory holding the SQLite file, the shared federation key and the
cache time of remote objects. Not for production: DEBUG is on and the keys are public.
"""

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BASE_DIR.parent
# through_models (the shelves) is a top-level app of the repository, not part of the
# installed package: make it importable wherever manage.py is run from.
if str(REPO_DIR) not in sys.path:
    sys.path.append(str(REPO_DIR))
DATA_DIR = Path(os.environ.get("DEMO_DATA_DIR") or BASE_DIR / "data")
HOST = os.environ.get("DEMO_HOST", "127.0.0.1")
PORT_A = int(os.environ.get("DEMO_PORT_A", "8000"))
PORT_B = int(os.environ.get("DEMO_PORT_B", "8001"))

SECRET_KEY = os.environ.get("DEMO_SECRET_KEY_A", "demo-only-example-project-secret-key")
DEBUG = os.environ.get("DEMO_DEBUG", "1") == "1"
ALLOWED_HOSTS = [HOST, "127.0.0.1", "localhost"]

#: The names people see for each project of the federation (this one and its peer).
DEMO_SHOP_NAMES = {"shop_a": "Riverside Books", "shop_b": "Hilltop Books"}
#: Where people browse each shop (links on the pages).
DEMO_SHOP_URLS = {"shop_a": f"http://{HOST}:{PORT_A}/", "shop_b": f"http://{HOST}:{PORT_B}/"}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "federated_relations",
    "through_models",
    "library",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Browsers share cookies between ports of one host: give each server its own, so that
# logging into one admin does not log you out of the other.
SESSION_COOKIE_NAME = "shop_a_sessionid"
CSRF_COOKIE_NAME = "shop_a_csrftoken"

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "example_project.sqlite3",
        # Requests and the federation's delivery threads write: wait for a lock, don't fail.
        "OPTIONS": {"timeout": 20},
    }
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# dumpdata/loaddata of ReadingList.books (a FederatedManyToManyField): formats that write
# each target as [project, app_label, model, pk] (Django's write bare pks).
SERIALIZATION_MODULES = {
    "json": "federated_relations.serializers.json",
    "jsonl": "federated_relations.serializers.jsonl",
    "python": "federated_relations.serializers.python",
    "xml": "federated_relations.serializers.xml_serializer",
    "yaml": "federated_relations.serializers.pyyaml",
}

FEDERATION = {
    "PROJECT_NAME": "shop_a",
    "PEERS": {
        "shop_b": {
            "URL": f"http://{HOST}:{PORT_B}/federation/",
            "KEY": os.environ.get("DEMO_FEDERATION_KEY", "demo-shared-secret-ab"),
        },
    },
    "EXPOSE": {"library.Book": ["title", "author", "price"]},
    "TIMEOUT": 2.0,
    # Remote books are cached this many seconds; 0 asks the peer on every page.
    "CACHE_TTL": int(os.environ.get("DEMO_CACHE_TTL", "30")),
    "ON_REMOTE_ERROR": "placeholder",
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "federated_relations": {"handlers": ["console"], "level": "INFO"},
        "library": {"handlers": ["console"], "level": "INFO"},
    },
}
