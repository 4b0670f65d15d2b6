"""``CopyGM2MRelations``: moving a ``GM2MField``'s rows into a ``FederatedManyToManyField``."""

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.writer import MigrationWriter

from federated_relations.models import GenericContentType
from federated_relations.operations import CopyGM2MRelations
from tests.m2m_app.models import Documentary, Movie, Switching

pytestmark = pytest.mark.django_db


def state():
    return MigrationLoader(connection).project_state()


@pytest.mark.django_db(transaction=True)
def test_forwards_copies_the_rows_and_backwards_copies_them_back():
    source = Switching.objects.create()
    movie, doc = Movie.objects.create(title="m"), Documentary.objects.create(title="d")
    source.old.add(movie, doc)
    operation = CopyGM2MRelations("switching", from_field="old", to_field="new")
    project_state = state()
    with connection.schema_editor() as editor:
        operation.database_forwards("m2m_app", editor, project_state, project_state)
    assert sorted(map(repr, source.new.all())) == sorted(map(repr, [movie, doc]))
    assert list(movie.switching_new.all()) == [source]
    types = set(
        Switching.new.through.objects.values_list("content_type__project", flat=True)
    )
    assert types == {"local_project"}
    # Applying it twice writes nothing twice.
    with connection.schema_editor() as editor:
        operation.database_forwards("m2m_app", editor, project_state, project_state)
    assert source.new.count() == 2
    # Backwards: the gm2m table is filled again from ours (local rows only).
    remote_type = GenericContentType.objects.get_for_remote("shop_b", "m2m_app", "movie")
    Switching.new.through.objects.create(switching=source, content_type=remote_type,
                                         object_id="99")
    Switching.old.through.objects.all().delete()
    with connection.schema_editor() as editor:
        operation.database_backwards("m2m_app", editor, project_state, project_state)
    assert sorted(map(repr, source.old.all())) == sorted(map(repr, [movie, doc]))


def test_operation_is_serializable_and_described():
    operation = CopyGM2MRelations("switching", from_field="old", to_field="new")
    source, imports = MigrationWriter.serialize(operation)
    assert "federated_relations.operations.CopyGM2MRelations(" in source
    assert "import federated_relations.operations" in imports
    assert "old" in operation.describe() and "new" in operation.describe()
    assert operation.migration_name_fragment == "copy_switching_old_to_new"
    operation.state_forwards("m2m_app", state())  # changes nothing
