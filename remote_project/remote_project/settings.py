"""Settings of remote_project: "Hilltop Books", the peer shop that exposes its books.

Everything a demo run may change comes from the environment, which ``launch_demo.py``
(run by ``run_demo.sh``) sets: the ports of both servers, the data directory holding the
SQLite file and the shared federation key. Not for production: DEBUG is on and the keys
are public.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DEMO_DATA_DIR") or BASE_DIR / "data")
HOST = os.environ.get("DEMO_HOST", "127.0.0.1")
PORT_A = int(os.environ.get("DEMO_PORT_A", "8000"))
PORT_B = int(os.environ.get("DEMO_PORT_B", "8001"))

SECRET_KEY = os.environ.get("DEMO_SECRET_KEY_B", "demo-only-remote-project-secret-key")
DEBUG = os.environ.get("DEMO_DEBUG", "1") == "1"
ALLOWED_HOSTS = [HOST, "127.0.0.1", "localhost"]

#: The name this shop shows to people; its name in the federation is PROJECT_NAME below.
DEMO_SHOP_NAME = "Hilltop Books"
#: The names people see for each project of the federation (this one and its peer).
DEMO_SHOP_NAMES = {"shop_a": "Riverside Books", "shop_b": DEMO_SHOP_NAME}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "federated_relations",
    "library",
]

MIDDLEWARE = [
    "library.middleware.FederationLogMiddleware",
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
SESSION_COOKIE_NAME = "shop_b_sessionid"
CSRF_COOKIE_NAME = "shop_b_csrftoken"

ROOT_URLCONF = "remote_project.urls"
WSGI_APPLICATION = "remote_project.wsgi.application"

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
        "NAME": DATA_DIR / "remote_project.sqlite3",
        # Two servers and their delivery threads write: wait for a lock instead of failing.
        "OPTIONS": {"timeout": 20},
    }
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

FEDERATION = {
    "PROJECT_NAME": "shop_b",
    "PEERS": {
        "shop_a": {
            "URL": f"http://{HOST}:{PORT_A}/federation/",
            "KEY": os.environ.get("DEMO_FEDERATION_KEY", "demo-shared-secret-ab"),
        },
    },
    # Peers may read these fields and search titles and authors (the admin search boxes).
    "EXPOSE": {
        "library.Book": {"fields": ["title", "author", "price"], "search": ["title", "author"]},
    },
    "TIMEOUT": 2.0,
    "CACHE_TTL": int(os.environ.get("DEMO_CACHE_TTL", "30")),
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
