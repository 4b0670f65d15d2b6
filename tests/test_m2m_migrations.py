"""Migrations of ``FederatedManyToManyField``: the schema editor alone handles its table."""

import contextlib
import importlib
import sys
import textwrap

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, migrations, models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.optimizer import MigrationOptimizer
from django.db.migrations.questioner import MigrationQuestioner
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ModelState
from django.db.migrations.writer import MigrationWriter
from django.test.utils import override_settings

from federated_relations import deletion
from federated_relations.fields import FederatedManyToManyField
from federated_relations.models import GenericContentType

APP = "fr_mig"


def base_state():
    return MigrationLoader(None, ignore_no_migrations=True).project_state()


def tables():
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def columns(table):
    with connection.cursor() as cursor:
        return {
            c.name: c for c in connection.introspection.get_table_description(cursor, table)
        }


def apply(state, operations, backwards=False):
    """Apply ``operations`` to the database and return the new state."""
    states = [state]
    for operation in operations:
        new = states[-1].clone()
        operation.state_forwards(APP, new)
        states.append(new)
    if not backwards:
        with connection.schema_editor() as editor:
            for operation, old, new in zip(operations, states, states[1:]):
                operation.database_forwards(APP, editor, old, new)
        return states[-1]
    return states


@pytest.fixture(autouse=True)
def drop_leftover_tables(request):
    """Drop the tables a failed test left behind, so that flushing the database works."""
    yield
    if "django_db" not in request.keywords:
        return
    leftovers = [t for t in tables() if t.startswith(("fr_mig_", "box_extras", "custom_crate"))]
    cascade = " CASCADE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        for table in leftovers:
            cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}{cascade}")


def unapply(states, operations):
    with connection.schema_editor() as editor:
        for operation, old, new in reversed(list(zip(operations, states, states[1:]))):
            operation.database_backwards(APP, editor, new, old)


CREATE = [
    migrations.CreateModel("Item", [("id", models.AutoField(primary_key=True))]),
    migrations.CreateModel(
        "Box",
        [
            ("id", models.AutoField(primary_key=True)),
            ("items", FederatedManyToManyField("fr_mig.item", related_name="boxes")),
        ],
    ),
]


@pytest.mark.django_db
def test_the_test_apps_need_no_new_migration():
    # --check exits non-zero when a change is detected.
    call_command("makemigrations", "m2m_app", "through_models", check=True, dry_run=True)


@pytest.mark.django_db(transaction=True)
def test_create_insert_rename_and_drop():
    state = apply(base_state(), CREATE)
    try:
        assert "fr_mig_box_items" in tables()
        assert set(columns("fr_mig_box_items")) == {"id", "box_id", "content_type_id", "object_id"}
        Box = state.apps.get_model(APP, "Box")
        through = Box._meta.get_field("items").remote_field.through
        box = Box.objects.create()
        # A real type id: earlier transactional tests flush the table (ids do not restart).
        ct_id = GenericContentType.objects.get_for_remote("shop_b", APP, "item").pk
        through.objects.create(box_id=box.pk, content_type_id=ct_id, object_id="42")
        state = apply(state, [migrations.RenameModel("Box", "Crate")])
        assert "fr_mig_box_items" not in tables()
        assert set(columns("fr_mig_crate_items")) == {
            "id", "crate_id", "content_type_id", "object_id"
        }
        Crate = state.apps.get_model(APP, "Crate")
        through = Crate._meta.get_field("items").remote_field.through
        assert list(through.objects.values_list("crate_id", "content_type_id", "object_id")) == [
            (box.pk, ct_id, "42")
        ]
        state = apply(state, [migrations.AlterModelTable("Crate", "custom_crate")])
        assert "custom_crate_items" in tables()
        state = apply(state, [migrations.AlterModelTable("Crate", None)])
    finally:
        apply(state, [migrations.DeleteModel("Crate"), migrations.DeleteModel("Item")])
    assert not {"fr_mig_crate", "fr_mig_crate_items", "fr_mig_item"} & tables()


@pytest.mark.django_db(transaction=True)
def test_add_alter_and_remove_the_field_forwards_and_backwards():
    state = apply(base_state(), CREATE)
    add = [
        migrations.AddField(
            "Box", "extras", FederatedManyToManyField(pk_maxlength=8, db_table="box_extras")
        )
    ]
    try:
        states = apply(state, add, backwards=True)
        with connection.schema_editor() as editor:
            add[0].database_forwards(APP, editor, states[0], states[1])
        assert "box_extras" in tables()
        if connection.vendor == "postgresql":
            assert columns("box_extras")["object_id"].display_size == 8
        alter = [
            migrations.AlterField(
                "Box", "extras", FederatedManyToManyField(pk_maxlength=64, db_table="box_extras")
            )
        ]
        altered = apply(states[1], alter, backwards=True)
        with connection.schema_editor() as editor:
            alter[0].database_forwards(APP, editor, altered[0], altered[1])
        if connection.vendor == "postgresql":
            assert columns("box_extras")["object_id"].display_size == 64
        unapply(altered, alter)
        unapply(states, add)
        assert "box_extras" not in tables()
        remove = [migrations.RemoveField("Box", "items")]
        removed = apply(state, remove, backwards=True)
        with connection.schema_editor() as editor:
            remove[0].database_forwards(APP, editor, removed[0], removed[1])
        assert "fr_mig_box_items" not in tables()
        unapply(removed, remove)
        assert "fr_mig_box_items" in tables()
    finally:
        states = apply(base_state(), CREATE, backwards=True)
        unapply(states, CREATE)
    assert not {"fr_mig_box", "fr_mig_box_items", "fr_mig_item"} & tables()


def detect(before, after, questioner=None):
    return MigrationAutodetector(before, after, questioner)._detect_changes()


def model_state(name, *fields, **options):
    return ModelState(APP, name, [("id", models.AutoField(primary_key=True)), *fields], options)


def boxes_state():
    state = base_state()
    state.add_model(model_state("Item"))
    state.add_model(
        model_state(
            "Box",
            ("items", FederatedManyToManyField(
                "fr_mig.item", on_delete_tgt=deletion.CASCADE_SIGNAL, pk_maxlength=None
            )),
        )
    )
    return state


def test_autodetector_writes_the_field_and_finds_no_change_afterwards():
    # The autodetector consumes its states' options: each detection gets fresh ones.
    before = base_state()
    changes = detect(before, boxes_state())
    migration = changes[APP][0]
    assert [type(op).__name__ for op in migration.operations] == ["CreateModel", "CreateModel"]
    assert ("federated_relations", "__first__") in migration.dependencies or any(
        dep[0] == "federated_relations" for dep in migration.dependencies
    )
    # The migration file is writable and reads back the same field.
    source = MigrationWriter(migration).as_string()
    assert "federated_relations.fields.FederatedManyToManyField('fr_mig.item'" in source
    assert "federated_relations.deletion.CASCADE_SIGNAL" in source
    namespace = {}
    exec(source, namespace)  # noqa: S102 - the generated migration module
    replayed = namespace["Migration"]("0001_initial", APP)
    replayed_state = before.clone()
    for operation in replayed.operations:
        operation.state_forwards(APP, replayed_state)
    assert detect(replayed_state, boxes_state()) == {}
    assert detect(boxes_state(), boxes_state()) == {}


def test_autodetector_detects_rename_of_the_source_model():
    before = base_state()
    before.add_model(model_state("Item"))
    before.add_model(model_state("Box", ("items", FederatedManyToManyField("fr_mig.item"))))
    after = base_state()
    after.add_model(model_state("Item"))
    after.add_model(model_state("Crate", ("items", FederatedManyToManyField("fr_mig.item"))))
    changes = detect(before, after, MigrationQuestioner({"ask_rename_model": True}))
    assert [type(op).__name__ for op in changes[APP][0].operations] == ["RenameModel"]


def test_adding_and_removing_the_field_is_detected():
    before = base_state()
    before.add_model(model_state("Box"))
    after = base_state()
    after.add_model(model_state("Box", ("items", FederatedManyToManyField())))
    ops = detect(before, after)[APP][0].operations
    assert [type(op).__name__ for op in ops] == ["AddField"]
    ops = detect(after, before)[APP][0].operations
    assert [type(op).__name__ for op in ops] == ["RemoveField"]


@pytest.mark.django_db(transaction=True)
def test_squashed_operations_build_the_same_schema():
    operations = [
        migrations.CreateModel("Item", [("id", models.AutoField(primary_key=True))]),
        migrations.CreateModel("Box", [("id", models.AutoField(primary_key=True))]),
        migrations.AddField("Box", "items", FederatedManyToManyField("fr_mig.item")),
        migrations.RenameModel("Box", "Crate"),
    ]
    squashed = MigrationOptimizer().optimize(operations, APP)
    assert [type(op).__name__ for op in squashed] == ["CreateModel", "CreateModel"]
    state = apply(base_state(), squashed)
    try:
        assert set(columns("fr_mig_crate_items")) == {
            "id", "crate_id", "content_type_id", "object_id"
        }
    finally:
        apply(state, [migrations.DeleteModel("Crate"), migrations.DeleteModel("Item")])
    assert "fr_mig_crate_items" not in tables()


def test_the_field_has_a_column_only_if_a_many_to_many_field_has_one():
    # Django 6's ManyToManyField has no column, hence is not concrete, and its schema
    # editors rely on that; Django 5.2's expect a column (and concrete) like any field.
    from django.contrib.auth.models import User as AuthUser

    from through_models.models import Playlist

    m2m = AuthUser._meta.get_field("groups")
    field = Playlist._meta.get_field("tracks")
    assert field.attname == "tracks"
    assert (field.column is None, field.concrete) == (m2m.column is None, m2m.concrete)
    assert field not in Playlist._meta.concrete_fields


@pytest.mark.django_db(transaction=True)
def test_adding_the_field_with_a_custom_through_keeps_the_source_rows():
    # On SQLite (Django 6) adding the field rebuilds the source table; a field with a column
    # made the copy fail ("new__fr_mig_box has no column named entries").
    create = [
        migrations.CreateModel(
            "Box",
            [("id", models.AutoField(primary_key=True)), ("name", models.CharField(max_length=9))],
        ),
        migrations.CreateModel(
            "Entry",
            [
                ("id", models.AutoField(primary_key=True)),
                ("box", models.ForeignKey("fr_mig.box", models.CASCADE)),
                ("content_type", models.ForeignKey(
                    "federated_relations.genericcontenttype", models.CASCADE, related_name="+"
                )),
                ("object_id", models.CharField(max_length=64)),
            ],
        ),
    ]
    add = [migrations.AddField("Box", "entries", FederatedManyToManyField(through="fr_mig.entry"))]
    state = apply(base_state(), create)
    try:
        state.apps.get_model(APP, "Box").objects.create(name="kept")
        states = apply(state, add, backwards=True)
        with connection.schema_editor() as editor:
            add[0].database_forwards(APP, editor, states[0], states[1])
        assert set(columns("fr_mig_box")) == {"id", "name"}
        Box = states[1].apps.get_model(APP, "Box")
        assert list(Box.objects.values_list("name", flat=True)) == ["kept"]
        unapply(states, add)
        assert set(columns("fr_mig_box")) == {"id", "name"}
    finally:
        apply(state, [migrations.DeleteModel("Entry"), migrations.DeleteModel("Box")])
    assert not {"fr_mig_box", "fr_mig_entry"} & tables()


SQUASH_APP = "fr_squash"
SQUASH_MIGRATIONS = {
    "0001_initial": """
        operations = [
            migrations.CreateModel("Item", [("id", models.AutoField(primary_key=True))]),
            migrations.CreateModel("Box", [("id", models.AutoField(primary_key=True))]),
        ]
    """,
    "0002_box_items": """
        dependencies = [("fr_squash", "0001_initial")]
        operations = [
            migrations.AddField(
                "Box", "items", FederatedManyToManyField("fr_squash.item", pk_maxlength=8)
            ),
        ]
    """,
    "0003_alter_box_items": """
        dependencies = [("fr_squash", "0002_box_items")]
        operations = [
            migrations.AlterField(
                "Box",
                "items",
                FederatedManyToManyField(
                    "fr_squash.item", pk_maxlength=40, related_name="boxes"
                ),
            ),
        ]
    """,
}


@contextlib.contextmanager
def throwaway_app(tmp_path, monkeypatch, app, migration_bodies, prelude=""):
    """Install an app made of migrations only; forget it and its tables afterwards."""
    package = tmp_path / app
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "__init__.py").write_text("")
    header = (
        "from django.db import migrations, models\n\n"
        "from federated_relations.fields import FederatedManyToManyField\n\n"
        f"{textwrap.dedent(prelude)}\n\n"
        "class Migration(migrations.Migration):\n"
        '    dependencies = [("federated_relations", "__first__")]\n'
    )
    for name, body in migration_bodies.items():
        source = header + textwrap.indent(textwrap.dedent(body), "    ")
        (package / "migrations" / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, app]):
            yield package
    finally:
        for module in [m for m in sys.modules if m.partition(".")[0] == app]:
            del sys.modules[module]
        importlib.invalidate_caches()
        leftovers = [t for t in tables() if t.startswith(f"{app}_")]
        cascade = " CASCADE" if connection.vendor == "postgresql" else ""
        with connection.cursor() as cursor:
            for table in leftovers:
                cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}{cascade}")
        MigrationRecorder(connection).migration_qs.filter(app=app).delete()


@pytest.fixture
def squash_app(tmp_path, monkeypatch):
    """Install a throwaway app with three migrations; forget it and its tables afterwards."""
    with throwaway_app(tmp_path, monkeypatch, SQUASH_APP, SQUASH_MIGRATIONS) as package:
        yield package


@pytest.mark.django_db(transaction=True)
def test_squashmigrations_then_migrate_forwards_and_backwards(squash_app):
    call_command("squashmigrations", SQUASH_APP, "0003", interactive=False, verbosity=0)
    importlib.invalidate_caches()
    (squashed_file,) = (squash_app / "migrations").glob("0001_squashed_0003_*.py")
    squashed = (SQUASH_APP, squashed_file.stem)
    source = squashed_file.read_text()
    assert "federated_relations.fields.FederatedManyToManyField(" in source
    assert "pk_maxlength=40" in source and "pk_maxlength=8" not in source

    executor = MigrationExecutor(connection)
    migration = executor.loader.get_migration(*squashed)
    assert [type(op).__name__ for op in migration.operations] == ["CreateModel", "CreateModel"]
    # Nothing applied yet: the squashed migration stands for the three it replaces.
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(SQUASH_APP))
    assert [(m.app_label, m.name, backwards) for m, backwards in plan] == [(*squashed, False)]

    call_command("migrate", SQUASH_APP, verbosity=0)
    assert {"fr_squash_box", "fr_squash_item", "fr_squash_box_items"} <= tables()
    assert set(columns("fr_squash_box_items")) == {"id", "box_id", "content_type_id", "object_id"}
    if connection.vendor == "postgresql":
        assert columns("fr_squash_box_items")["object_id"].display_size == 40
    applied = MigrationRecorder(connection).applied_migrations()
    assert {(SQUASH_APP, name) for name in SQUASH_MIGRATIONS} <= set(applied)

    call_command("migrate", SQUASH_APP, "zero", verbosity=0)
    assert not {t for t in tables() if t.startswith(f"{SQUASH_APP}_")}
    assert not MigrationRecorder(connection).migration_qs.filter(app=SQUASH_APP).exists()


HISTORY_APP = "fr_hist"
#: RunPython functions of the data migrations: historical models, as users write them.
HISTORY_FUNCTIONS = """
    def use_the_relation(apps, schema_editor):
        Project = apps.get_model("fr_hist", "Project")
        Links = apps.get_model("fr_hist", "Links")
        project = Project.objects.create(name="p")
        assert list(project.links_set.all()) == []  # declared: there before any add()
        links = Links.objects.create()
        links.related_objects.add(project)
        assert [link.pk for link in project.links_set.all()] == [links.pk]
        assert list(links.related_objects.all()) == [project]  # historical instances
        assert list(Project.objects.filter(links__pk=links.pk)) == [project]
        project.links_set.add(Links.objects.create())
        assert project.links_set.count() == 2

    def after_the_target_changed(apps, schema_editor):
        # Project was rendered again (AlterField): its reverse accessor comes with it.
        Project = apps.get_model("fr_hist", "Project")
        project = Project.objects.get(name="p")
        assert project.links_set.count() == 2
        project.delete()  # the through rows go with it (CASCADE)
        Links = apps.get_model("fr_hist", "Links")
        through = Links._meta.get_field("related_objects").remote_field.through
        assert through.objects.count() == 0
"""
HISTORY_MIGRATIONS = {
    "0001_initial": """
        operations = [
            migrations.CreateModel("Project", [
                ("id", models.AutoField(primary_key=True)),
                ("name", models.CharField(max_length=10)),
            ]),
            migrations.CreateModel("Links", [
                ("id", models.AutoField(primary_key=True)),
                ("related_objects", FederatedManyToManyField("fr_hist.project")),
            ]),
        ]
    """,
    "0002_data": """
        dependencies = [("fr_hist", "0001_initial")]
        operations = [migrations.RunPython(use_the_relation, migrations.RunPython.noop)]
    """,
    "0003_alter_project": """
        dependencies = [("fr_hist", "0002_data")]
        operations = [
            migrations.AlterField("Project", "name", models.CharField(max_length=20)),
            migrations.RunPython(after_the_target_changed, migrations.RunPython.noop),
        ]
    """,
}


@pytest.mark.django_db(transaction=True)
def test_historical_models_have_the_reverse_accessor(tmp_path, monkeypatch):
    # gm2m's bug #14: data migrations use the relation from both sides.
    with throwaway_app(
        tmp_path, monkeypatch, HISTORY_APP, HISTORY_MIGRATIONS, prelude=HISTORY_FUNCTIONS
    ):
        call_command("migrate", HISTORY_APP, verbosity=0)
        applied = MigrationRecorder(connection).applied_migrations()
        assert {(HISTORY_APP, name) for name in HISTORY_MIGRATIONS} <= set(applied)
        call_command("migrate", HISTORY_APP, "zero", verbosity=0)
