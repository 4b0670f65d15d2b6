"""Tenant-aware federated relations (issue 15): the tenant in every row, join and write.

Runs on SQLite and PostgreSQL; the Citus statements are compared as text (Citus is not
installed here). Models: tests/tenant_app.
"""

import re

import django
import pytest
from django.apps import apps
from django.core import checks
from django.db import connection, models
from django.db.migrations.loader import MigrationLoader
from django.db.models import Count, Exists, OuterRef
from django.test.utils import CaptureQueriesContext, isolate_apps
from django_multitenant.utils import set_current_tenant, unset_current_tenant

from federated_relations.citus import CreateReferenceTables, DistributeFederatedRelation
from federated_relations.fields import FederatedForeignKey, FederatedManyToManyField
from federated_relations.models import GenericContentType
from federated_relations.remote import remote
from federated_relations.tenancy import CrossTenantError, tenant_field_of
from tests import fake_peers as fakes
from tests.tenant_app.models import Account, Board, Comment, Country, Label, Note, Tag

pytestmark = pytest.mark.django_db

fake_peers = fakes.fake_peers

Through = Note.tags.through

#: django-multitenant 4.1.1 overrides Model._do_update() with Django 5.2's signature.
saves_existing_tenant_models = pytest.mark.skipif(
    django.VERSION >= (6, 0),
    reason="django-multitenant 4.1.1 cannot save an existing TenantModel on Django >= 6.0 "
    "(its _do_update() override has Django 5.2's signature)",
)


@pytest.fixture(autouse=True)
def no_current_tenant():
    unset_current_tenant()
    yield
    unset_current_tenant()


@pytest.fixture
def world():
    a1, a2 = Account.objects.create(name="a1"), Account.objects.create(name="a2")
    t1 = Tag.objects.create(account=a1, name="t1")
    t2 = Tag.objects.create(account=a2, name="t2")
    t3 = Tag.objects.create(account=a1, name="t3")
    n1 = Note.objects.create(account=a1, title="n1")
    n2 = Note.objects.create(account=a2, title="n2")
    return a1, a2, t1, t2, t3, n1, n2


def _tenant_equal(rows, model, column="account_id"):
    """A regex of ``rows.column = model.column``, tables quoted or aliased (U0, "U0" on 6.1)."""
    side = r'(?:"{}"|"?U\d+"?)\."{}"'
    return re.compile(
        side.format(re.escape(rows), column) + r" = " + side.format(re.escape(model), column)
    )


def _sql(ctx):
    # Parentheses vary between backends and versions: compare without them.
    return " ".join(q["sql"] for q in ctx.captured_queries).replace("(", "").replace(")", "")


def _assert_tenant_join(ctx, rows="tenant_app_note_tags", model="tenant_app_note", **kwargs):
    sql = _sql(ctx)
    assert _tenant_equal(rows, model, **kwargs).search(sql), sql


#: SQLite's schema editor (collect_sql too) needs to be outside a transaction.
schema_sql = pytest.mark.django_db(transaction=True)


@schema_sql
def test_the_through_table_carries_the_tenant_first():
    names = [f.name for f in Through._meta.fields]
    assert names == ["id", "note", "account", "content_type", "object_id"]
    assert Through._meta.unique_together == (("account", "note", "content_type", "object_id"),)
    assert [index.fields for index in Through._meta.indexes] == [
        ["account", "content_type", "object_id"]
    ]
    assert tenant_field_of(Through).name == "account"
    assert Through.tenant_field == "account_id"  # what django-multitenant's hooks read
    with connection.schema_editor(collect_sql=True) as editor:
        editor.create_model(Through)
    sql = "\n".join(editor.collected_sql)
    assert '"account_id", "note_id", "content_type_id", "object_id"' in sql
    assert '"account_id", "content_type_id", "object_id"' in sql


def test_a_tenant_field_declared_after_the_field_is_found():
    through = Board.labels.through
    assert tenant_field_of(through).name == "workspace"
    assert through._meta.unique_together == (("workspace", "board", "content_type", "object_id"),)


def test_the_deconstruction_names_a_detected_tenant():
    _name, _path, _args, kwargs = Note._meta.get_field("tags").deconstruct()
    assert kwargs["tenant_field"] == "account"  # historical models have no TenantMeta


def test_writes_fill_the_tenant_of_the_source(world):
    a1, a2, t1, _t2, t3, n1, n2 = world
    country = Country.objects.create(name="c")
    n1.tags.add(t1, t3, country)
    n2.tags.add(country)
    rows = set(Through.objects.values_list("note_id", "account_id", "object_id"))
    assert rows == {
        (n1.pk, a1.pk, str(t1.pk)), (n1.pk, a1.pk, str(t3.pk)), (n1.pk, a1.pk, str(country.pk)),
        (n2.pk, a2.pk, str(country.pk)),
    }
    n1.tags.set([t1])
    assert list(n1.tags.all()) == [t1]
    n3 = Note.objects.create(account=a2, title="n3")
    country.notes.add(n3)  # the reverse side: each row under its own source's tenant
    assert Through.objects.get(note=n3).account_id == a2.pk
    country.notes.remove(n2)
    assert set(country.notes.all()) == {n3}
    country.notes.clear()
    assert country.notes.count() == 0
    assert list(n1.tags.all()) == [t1]


def test_cross_tenant_writes_are_refused(world):
    a1, a2, t1, t2, _t3, n1, n2 = world
    with pytest.raises(CrossTenantError, match="different tenants"):
        n1.tags.add(t1, t2)
    with pytest.raises(CrossTenantError):
        n1.tags.set([t2])
    with pytest.raises(CrossTenantError):
        t2.notes.add(n1)
    assert not Through.objects.exists()  # nothing written, not even t1
    with pytest.raises(CrossTenantError):
        n1.comments.create(text="x", account=a2)
    comment = Comment.objects.create(account=a2, target=n2, text="c")
    with pytest.raises(CrossTenantError):
        n1.comments.add(comment)


def test_remote_targets_are_stored_under_the_sources_tenant(world, fake_peers):
    fake_peers["shop_b"].add("library", "book", 1, "B1", name="b1")
    a1, _a2, _t1, _t2, _t3, n1, _n2 = world
    book = remote("shop_b", "library.Book", 1)
    n1.tags.add(book)
    row = Through.objects.get()
    assert (row.account_id, row.object_id) == (a1.pk, "1")
    assert [obj.pk for obj in n1.tags.all()] == [1]
    assert list(book.notes.all()) == [n1]


def test_joins_of_the_source_side_compare_tenants(world):
    _a1, _a2, t1, _t2, t3, n1, n2 = world
    n1.tags.add(t1, t3)
    n2.tags.add(Tag.objects.create(account=n2.account, name="t4"))
    cases = [
        ("filter", lambda: Note.objects.filter(tags=t1), ["n1"]),
        ("exclude", lambda: Note.objects.exclude(tags=t1), ["n2"]),
        (
            "exists",
            lambda: Note.objects.filter(Exists(Through.objects.filter(note=OuterRef("pk")))),
            ["n1", "n2"],
        ),
        ("count", lambda: Note.objects.annotate(n=Count("tags")).filter(n=2), ["n1"]),
    ]
    for label, queryset, titles in cases:
        with CaptureQueriesContext(connection) as ctx:
            found = sorted(queryset().values_list("title", flat=True))
        assert found == titles, label
        _assert_tenant_join(ctx)


def test_joins_of_the_target_side_compare_tenants(world):
    _a1, _a2, t1, t2, t3, n1, n2 = world
    n1.tags.add(t1)
    n2.tags.add(t2)
    cases = [
        ("filter", lambda: Tag.objects.filter(notes__title="n1"), ["t1"]),
        ("exclude", lambda: Tag.objects.exclude(notes__title="n1"), ["t2", "t3"]),
        ("count", lambda: Tag.objects.annotate(n=Count("notes")).filter(n=1), ["t1", "t2"]),
        ("reverse manager", lambda: t1.notes.all(), None),
    ]
    for label, queryset, names in cases:
        with CaptureQueriesContext(connection) as ctx:
            result = list(queryset())
        if names is not None:
            assert sorted(tag.name for tag in result) == names, label
        if label != "reverse manager":  # it filters the rows by the target's columns
            _assert_tenant_join(ctx, "tenant_app_note_tags", "tenant_app_tag")
        if label != "count":  # no source table to join
            _assert_tenant_join(ctx)  # the rows to the source


def test_prefetch_filters_on_the_tenants(world):
    a1, a2, t1, t2, _t3, n1, n2 = world
    n1.tags.add(t1)
    n2.tags.add(t2)
    with CaptureQueriesContext(connection) as ctx:
        notes = list(Note.objects.order_by("pk").prefetch_related("tags"))
    assert [list(note.tags.all()) for note in notes] == [[t1], [t2]]
    rows_query = next(q["sql"] for q in ctx.captured_queries if "tenant_app_note_tags" in q["sql"])
    assert re.search(r'"account_id" IN \(%s, %s\)|"account_id" IN \(\d+, \d+\)', rows_query)
    with CaptureQueriesContext(connection) as ctx:
        tags = list(Tag.objects.filter(pk__in=[t1.pk, t2.pk]).prefetch_related("notes"))
    assert {tag.name: list(tag.notes.all()) for tag in tags} == {"t1": [n1], "t2": [n2]}
    assert 'tenant_app_note_tags"."account_id" IN' in _sql(ctx)


def test_federated_relation_joins_and_manager_use_the_tenant(world):
    a1, _a2, _t1, _t2, _t3, n1, n2 = world
    comment = n1.comments.create(text="c")  # the tenant comes from n1
    assert comment.account_id == a1.pk
    Comment.objects.create(account=n2.account, target=n2, text="d")
    for queryset, titles in [
        (lambda: Note.objects.filter(comments__text="c"), ["n1"]),
        (lambda: Note.objects.exclude(comments__text="c"), ["n2"]),
    ]:
        with CaptureQueriesContext(connection) as ctx:
            assert sorted(queryset().values_list("title", flat=True)) == titles
        _assert_tenant_join(ctx, "tenant_app_comment", "tenant_app_note")
    with CaptureQueriesContext(connection) as ctx:
        assert list(n1.comments.all()) == [comment]
    assert '"tenant_app_comment"."account_id" = ' in ctx.captured_queries[0]["sql"]
    with CaptureQueriesContext(connection) as ctx:
        notes = list(Note.objects.order_by("pk").prefetch_related("comments"))
    assert [[c.text for c in note.comments.all()] for note in notes] == [["c"], ["d"]]
    assert '"tenant_app_comment"."account_id" IN' in _sql(ctx)


@saves_existing_tenant_models
def test_federated_relation_add_without_bulk_saves_under_the_tenant(world):
    _a1, _a2, _t1, _t2, _t3, n1, n2 = world
    comment = Comment.objects.create(account=n1.account, target=n2, text="moved")
    n1.comments.add(comment, bulk=False)
    comment.refresh_from_db()
    assert comment.target == n1


def test_native_tenant_meta_works_without_django_multitenant_bases(world):
    a1, a2 = world[:2]
    board = Board.objects.create(workspace=a1, title="b")
    mine, theirs = Label.objects.create(workspace=a1, name="x"), Label.objects.create(
        workspace=a2, name="y"
    )
    board.labels.add(mine)
    with pytest.raises(CrossTenantError):
        board.labels.add(theirs)
    with CaptureQueriesContext(connection) as ctx:
        assert list(Board.objects.filter(labels=mine)) == [board]
    _assert_tenant_join(
        ctx, "tenant_app_board_labels", "tenant_app_board", column="workspace_id"
    )


def test_the_current_tenant_limits_both_managers(world):
    a1, a2, t1, t2, _t3, n1, n2 = world
    country = Country.objects.create(name="shared")
    n1.tags.add(t1, country)
    n2.tags.add(t2, country)
    set_current_tenant(a2)
    assert list(n1.tags.all()) == []  # a1's rows are not the current tenant's
    assert list(n2.tags.all()) == [t2, country]
    assert list(country.notes.all()) == [n2]
    assert [list(n.tags.all()) for n in Note.objects.prefetch_related("tags")] == [[t2, country]]
    unset_current_tenant()
    assert set(country.notes.all()) == {n1, n2}
    assert list(n1.tags.all()) == [t1, country]


def _project_state():
    return MigrationLoader(connection).project_state(("tenant_app", "0001_initial"))


@schema_sql
def test_the_distribution_sql():
    state = _project_state()
    with connection.schema_editor(collect_sql=True) as editor:
        CreateReferenceTables().database_forwards("tenant_app", editor, state, state)
        DistributeFederatedRelation("note", "tags").database_forwards(
            "tenant_app", editor, state, state
        )
    sql = "\n".join(editor.collected_sql)
    for table in (
        "federated_relations_genericcontenttype",
        "federated_relations_outboxevent",
        "federated_relations_receivedevent",
    ):
        assert f"SELECT create_reference_table('{table}')" in sql
    assert (
        'ALTER TABLE "tenant_app_note_tags" ADD CONSTRAINT "tenant_app_note_tags_pkey" '
        'PRIMARY KEY ("account_id", "id")'
    ) in sql
    assert re.search(
        r'ADD CONSTRAINT "tenant_app_note_tags_note_id_\w+_fk_tenant_app_note_id" FOREIGN KEY '
        r'\("account_id", "note_id"\) REFERENCES "tenant_app_note" \("account_id", "id"\)',
        sql,
    ), sql
    assert (
        "SELECT create_distributed_table('tenant_app_note_tags', 'account_id', "
        "colocate_with => 'tenant_app_note')"
    ) in sql
    with connection.schema_editor(collect_sql=True) as editor:
        DistributeFederatedRelation("note", "tags").database_backwards(
            "tenant_app", editor, state, state
        )
    assert editor.collected_sql[0] == "SELECT undistribute_table('tenant_app_note_tags');"
    assert 'PRIMARY KEY ("id")' in editor.collected_sql[-1]


@schema_sql
def test_distributing_a_relation_without_tenant_is_refused():
    state = MigrationLoader(connection).project_state(("m2m_app", "0001_initial"))
    with connection.schema_editor(collect_sql=True) as editor, pytest.raises(
        ValueError, match="not tenant-aware"
    ):
        DistributeFederatedRelation("fuser", "videos").database_forwards(
            "m2m_app", editor, state, state
        )


def test_the_operations_deconstruct():
    assert DistributeFederatedRelation("note", "tags").deconstruct() == (
        "DistributeFederatedRelation", ["note", "tags"], {}
    )
    assert CreateReferenceTables().deconstruct() == ("CreateReferenceTables", [], {})


def _ids(messages):
    return [message.id for message in messages]


@isolate_apps("tests.tenant_app")
def test_the_checks_of_custom_through_models():
    class Source(models.Model):
        account = models.ForeignKey(Account, on_delete=models.CASCADE)
        plain = FederatedManyToManyField(Tag, through="PlainLink")
        good = FederatedManyToManyField(Tag, through="GoodLink")

        class Meta:
            app_label = "tenant_app"

        class TenantMeta:
            tenant_field_name = "account_id"

    class PlainLink(models.Model):
        source = models.ForeignKey(Source, on_delete=models.CASCADE)
        content_type = models.ForeignKey(GenericContentType, on_delete=models.CASCADE)
        object_id = models.CharField(max_length=16)
        target = FederatedForeignKey()

        class Meta:
            app_label = "tenant_app"

    class GoodLink(models.Model):
        pk = models.CompositePrimaryKey("account", "id")
        id = models.IntegerField()
        account = models.ForeignKey(Account, on_delete=models.CASCADE)
        source = models.ForeignKey(Source, on_delete=models.CASCADE)
        content_type = models.ForeignKey(GenericContentType, on_delete=models.CASCADE)
        object_id = models.CharField(max_length=16)
        target = FederatedForeignKey()

        class Meta:
            app_label = "tenant_app"
            unique_together = [("source", "content_type", "object_id")]

        class TenantMeta:
            tenant_field_name = "account_id"

    assert "federated_relations.E112" in _ids(Source._meta.get_field("plain").check())
    good = _ids(Source._meta.get_field("good").check())
    assert "federated_relations.E113" in good  # the unique_together lacks the tenant
    assert "federated_relations.W114" not in good  # the composite pk has it

    class Loose(models.Model):
        account = models.ForeignKey(Account, on_delete=models.CASCADE)
        source = models.ForeignKey(Source, on_delete=models.CASCADE)
        content_type = models.ForeignKey(GenericContentType, on_delete=models.CASCADE)
        object_id = models.CharField(max_length=16)
        target = FederatedForeignKey()

        class Meta:
            app_label = "tenant_app"
            unique_together = [("account", "source", "content_type", "object_id")]

        class TenantMeta:
            tenant_field_name = "account"

    field = FederatedManyToManyField(Tag, through=Loose)
    field.contribute_to_class(Source, "loose")
    assert _ids(field.check()) == ["federated_relations.W114"]


@isolate_apps("tests.tenant_app")
def test_a_tenant_field_naming_nothing_is_reported():
    class Source(models.Model):
        tags = FederatedManyToManyField(Tag, tenant_field="nothing")

        class Meta:
            app_label = "tenant_app"

    assert "federated_relations.E111" in _ids(Source._meta.get_field("tags").check())


def test_the_tenant_app_passes_the_checks():
    errors = checks.run_checks(app_configs=[apps.get_app_config("tenant_app")])
    assert [e for e in errors if e.level >= checks.ERROR] == []


@isolate_apps("tests.tenant_app")
def test_a_source_that_is_the_tenant_uses_its_foreign_key_as_the_tenant():
    class Workspace(models.Model):
        tags = FederatedManyToManyField(Tag)

        class Meta:
            app_label = "tenant_app"

        class TenantMeta:
            tenant_field_name = "id"

    through = Workspace.tags.through
    names = [f.name for f in through._meta.fields]
    assert names == ["id", "workspace", "content_type", "object_id"]
    assert tenant_field_of(through).name == "workspace"
    assert through._meta.unique_together == (("workspace", "content_type", "object_id"),)
