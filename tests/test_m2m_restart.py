"""Reverse relations of undeclared targets survive a restart (``added_relations``).

One process migrates a real database (an SQLite file, or a PostgreSQL database of its own
with ``FR_DB=postgres``) and adds targets of models the field does not declare; a fresh
process must give those models their reverse accessor without any ``add()``, having
queried nothing while Django set up.
"""

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent

FIRST_PROCESS = """
import django
django.setup()
from django.core.management import call_command
from tests.m2m_app.models import Movie, User
from tests.testapp.models import SlugBook

call_command("migrate", verbosity=0)
assert not hasattr(Movie, "user_set"), "Movie must start without User's reverse accessor"
movie = Movie.objects.create(title="kept")
book = SlugBook.objects.create(slug="dune")
ann = User.objects.create(name="ann")
ann.preferred_videos.add(movie, book)
print(json.dumps({"book": book.pk}))
"""

SECOND_PROCESS = """
import django
django.setup()
from django.db import connection
from tests.m2m_app.models import Movie, User
from tests.testapp.models import SlugBook

state = {
    "connected_during_setup": connection.connection is not None,
    "accessor_before_connecting": hasattr(Movie, "user_set"),
}
connection.force_debug_cursor = True  # record what the first connection queries
movie = Movie.objects.get(title="kept")
state["queries_on_connect"] = [q["sql"] for q in connection.queries[:-1]]
state["movie_users"] = [user.name for user in movie.user_set.all()]
state["book_users"] = [user.name for user in SlugBook.objects.get().user_set.all()]
state["joined"] = list(Movie.objects.filter(user__name="ann").values_list("title", flat=True))
state["declared"] = [m.__name__ for m in User._meta.get_field(
    "preferred_videos").get_related_models(include_auto=True)]
from django.apps import apps
from federated_relations.fields import FederatedManyToManyField
state["fields"] = sum(
    isinstance(field, FederatedManyToManyField) and field.model is model
    for model in apps.get_models() for field in model._meta.local_many_to_many
)
print(json.dumps(state))
"""


def _postgres_database(name: str) -> dict:
    base = settings.DATABASES["default"]
    return {**base, "NAME": name, "TEST": {}}


def _admin_sql(database: dict, sql: str) -> None:
    import psycopg

    with psycopg.connect(
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(sql)


@pytest.fixture
def database(tmp_path):
    """A real database for the two processes: an SQLite file, or a fresh PostgreSQL one."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        name = f"fr_restart_{uuid.uuid4().hex[:8]}"
        config = _postgres_database(name)
        _admin_sql(config, f'CREATE DATABASE "{name}"')
        yield config
        _admin_sql(config, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "restart.sqlite3")}


def run(tmp_path: Path, database: dict, script: str) -> dict:
    settings_module = tmp_path / "restart_settings.py"
    settings_module.write_text(
        "from tests.settings import *  # noqa: F403\n"
        f"DATABASES = {{'default': {database!r}}}\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "restart_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    code = "import json\n" + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_undeclared_targets_keep_their_reverse_accessor_after_a_restart(tmp_path, database):
    run(tmp_path, database, FIRST_PROCESS)
    state = run(tmp_path, database, SECOND_PROCESS)
    # Nothing is queried while Django sets up (imports, ready()).
    assert state["connected_during_setup"] is False
    assert state["accessor_before_connecting"] is False
    # The first connection restored both accessors, with no add() in this process.
    assert state["movie_users"] == ["ann"]
    assert state["book_users"] == ["ann"]
    assert state["joined"] == ["kept"]
    assert {"Movie", "SlugBook"} <= set(state["declared"])
    # One EXISTS probe per field, on the first connection only (besides the one query
    # that looks for deletion events an earlier process left pending).
    outbox = [sql for sql in state["queries_on_connect"] if "outboxevent" in sql]
    assert len(outbox) == 1
    restore = [sql for sql in state["queries_on_connect"] if sql not in outbox]
    probes = [sql for sql in restore if "EXISTS" in sql]
    assert len(probes) == state["fields"] == len(restore)
    assert any('"m2m_app_user_preferred_videos"' in sql for sql in probes)
