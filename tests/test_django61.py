"""What Django 6.1 changed for the fields: the migration autodetector and fetch modes.

Django 6.1's autodetector reads ``deconstruct()[2]["to"]`` of many-to-many fields, and its
``GenericForeignKey`` accessor honours ``QuerySet.fetch_mode()``. The migration tests run on
every Django; the fetch mode tests need 6.1.
"""

from __future__ import annotations

import django
import pytest
from django.db import migrations, models
from django.db.migrations.writer import MigrationWriter

from federated_relations.fields import FederatedManyToManyField
from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from federated_relations.test import assert_num_requests
from tests import fake_peers as fakes
from tests.test_m2m_migrations import APP, base_state, detect, model_state
from tests.testapp.models import Animal, Mineral, TaggedItem, Vegetable

fake_peers = fakes.fake_peers

HAS_FETCH_MODES = django.VERSION >= (6, 1)
needs_fetch_modes = pytest.mark.skipif(not HAS_FETCH_MODES, reason="fetch modes: Django 6.1")


# --- the autodetector ---------------------------------------------------------------------


def boxes(*fields):
    state = base_state()
    state.add_model(model_state("Item"))
    state.add_model(model_state("Other"))
    state.add_model(model_state("Box", *fields))
    return state


def operation_names(changes):
    return [type(operation).__name__ for operation in changes[APP][0].operations]


@pytest.mark.parametrize(
    "changed",
    [
        FederatedManyToManyField("fr_mig.item", pk_maxlength=40),
        FederatedManyToManyField("fr_mig.item", "fr_mig.other"),  # another declared target
        FederatedManyToManyField("fr_mig.other", related_name="boxes"),
    ],
    ids=["pk_maxlength", "added-target", "other-target"],
)
def test_changing_the_field_is_one_alter_field(changed):
    before = boxes(("items", FederatedManyToManyField("fr_mig.item")))
    after = boxes(("items", changed))
    # The through table types targets with GenericContentType whatever the declared
    # targets are: altering it never drops the table (which would lose every row).
    assert operation_names(detect(before, after)) == ["AlterField"]


def test_a_field_added_by_a_migration_then_changed_is_altered():
    state = boxes()
    added = migrations.AddField("Box", "items", FederatedManyToManyField("fr_mig.item"))
    added.state_forwards(APP, state)
    assert detect(state, boxes(("items", FederatedManyToManyField("fr_mig.item")))) == {}
    changed = boxes(("items", FederatedManyToManyField("fr_mig.item", db_table="box_items")))
    assert operation_names(detect(state, changed)) == ["AlterField"]


def test_a_written_alter_field_reads_back_without_changes():
    before = boxes(("items", FederatedManyToManyField("fr_mig.item")))
    after = boxes(("items", FederatedManyToManyField("fr_mig.item", pk_maxlength=40)))
    migration = detect(before, after)[APP][0]
    source = MigrationWriter(migration).as_string()
    # Older Django never read "to": their migrations are written as they always were.
    assert ("to='federated_relations.genericcontenttype'" in source) is HAS_FETCH_MODES
    namespace = {}
    exec(source, namespace)  # noqa: S102 - the generated migration module
    replayed = before.clone()
    for operation in namespace["Migration"]("0002_alter", APP).operations:
        operation.state_forwards(APP, replayed)
    assert detect(replayed, after) == {}


def test_to_must_be_the_type_model():
    field = FederatedManyToManyField("fr_mig.item", to="federated_relations.GenericContentType")
    assert field.declared_models == ["fr_mig.item"]
    with pytest.raises(TypeError, match="positional arguments"):
        FederatedManyToManyField(to="fr_mig.item")


# --- fetch modes --------------------------------------------------------------------------


def tag(target, name="t"):
    return TaggedItem.objects.create(tag=name, content_object=target)


def tag_remote(project, pk, model="animal"):
    content_type = GenericContentType.objects.get_for_remote(project, "testapp", model)
    return TaggedItem.objects.create(tag="r", content_type=content_type, object_id=str(pk))


@pytest.fixture
def local_targets(db):
    """Two animals, a vegetable and a mineral, each tagged once; the type cache is warm."""
    targets = [
        Animal.objects.create(common_name="Lion", latin_name="Panthera leo"),
        Animal.objects.create(common_name="Tiger", latin_name="Panthera tigris"),
        Vegetable.objects.create(name="Carrot"),
        Mineral.objects.create(name="Quartz", hardness=7),
    ]
    for target in targets:
        tag(target)
    GenericContentType.objects.get_for_models(Animal, Vegetable, Mineral, TaggedItem)
    return targets


@needs_fetch_modes
def test_the_accessor_is_a_generic_foreign_key_descriptor():
    from django.contrib.contenttypes.fields import GenericForeignKeyDescriptor

    descriptor = TaggedItem.content_object
    assert isinstance(descriptor, GenericForeignKeyDescriptor)
    assert descriptor.field is TaggedItem._meta.get_field("content_object")


@needs_fetch_modes
def test_fetch_one_loads_the_target_of_each_instance_read(
    local_targets, django_assert_num_queries
):
    items = list(TaggedItem.objects.order_by("pk").fetch_mode(models.FETCH_ONE))
    with django_assert_num_queries(4):
        assert [item.content_object for item in items] == local_targets


@needs_fetch_modes
def test_fetch_peers_loads_every_target_with_one_query_per_type(
    local_targets, django_assert_num_queries
):
    items = list(TaggedItem.objects.order_by("pk").fetch_mode(models.FETCH_PEERS))
    with django_assert_num_queries(3):  # animals, vegetables, minerals
        assert items[2].content_object == local_targets[2]
    with django_assert_num_queries(0):
        assert [item.content_object for item in items] == local_targets


@needs_fetch_modes
def test_fetch_peers_passes_on_to_the_targets(local_targets, django_assert_num_queries):
    # Tags of tags: the tags loaded as targets are peers too, in FETCH_PEERS.
    inner = list(TaggedItem.objects.order_by("pk"))
    for item in inner:
        tag(item, "outer")
    outer = list(
        TaggedItem.objects.filter(tag="outer").order_by("pk").fetch_mode(models.FETCH_PEERS)
    )
    with django_assert_num_queries(1):  # the inner tags
        assert outer[0].content_object == inner[0]
    with django_assert_num_queries(3):  # their targets: animals, vegetables, minerals
        assert outer[0].content_object.content_object == local_targets[0]
    with django_assert_num_queries(0):
        assert [item.content_object.content_object for item in outer] == local_targets


@needs_fetch_modes
def test_fetch_peers_reloads_a_stale_target(local_targets, django_assert_num_queries):
    items = list(TaggedItem.objects.order_by("pk").fetch_mode(models.FETCH_PEERS))
    assert items[0].content_object == local_targets[0]
    items[0].object_id = str(local_targets[1].pk)  # now the tiger, which is not cached
    with django_assert_num_queries(1):
        assert items[0].content_object == local_targets[1]


@needs_fetch_modes
def test_fetch_raise_raises_instead_of_fetching(local_targets, django_assert_num_queries):
    from django.core.exceptions import FieldFetchBlocked

    item = TaggedItem.objects.fetch_mode(models.FETCH_RAISE).order_by("pk").first()
    with django_assert_num_queries(0), pytest.raises(FieldFetchBlocked, match="content_object"):
        _ = item.content_object
    # What was loaded or assigned is read without fetching.
    prefetched = TaggedItem.objects.fetch_mode(models.FETCH_RAISE).prefetch_related(
        "content_object"
    ).order_by("pk").first()
    item.content_object = local_targets[3]
    with django_assert_num_queries(0):
        assert prefetched.content_object == local_targets[0]
        assert item.content_object == local_targets[3]


@pytest.fixture
def remote_targets(fake_peers, db):
    """Tags of 3 animals and a vegetable on shop_b, 2 animals on shop_c, and a local lion."""
    for pk in (1, 2, 3):
        fake_peers["shop_b"].add("testapp", "animal", pk, f"B{pk}", common_name=f"b{pk}")
        tag_remote("shop_b", pk)
    for pk in (1, 2):
        fake_peers["shop_c"].add("testapp", "animal", pk, f"C{pk}", common_name=f"c{pk}")
        tag_remote("shop_c", pk)
    fake_peers["shop_b"].add("testapp", "vegetable", "kale", "Kale", name="kale")
    tag_remote("shop_b", "kale", model="vegetable")
    lion = Animal.objects.create(common_name="Lion", latin_name="Panthera leo")
    tag(lion)
    GenericContentType.objects.get_for_models(Animal)
    return ["B1", "B2", "B3", "C1", "C2", "Kale", "Lion"]


@needs_fetch_modes
def test_fetch_peers_loads_remote_targets_in_one_request_per_peer_and_type(
    remote_targets, django_assert_num_queries
):
    items = list(TaggedItem.objects.order_by("pk").fetch_mode(models.FETCH_PEERS))
    with assert_num_requests(3) as log, django_assert_num_queries(1):  # the local lion
        first = items[0].content_object
    assert len(log.to("shop_b")) == 2 and len(log.to("shop_c")) == 1
    assert isinstance(first, RemoteObject) and first.is_loaded
    with assert_num_requests(0), django_assert_num_queries(0):
        assert [str(item.content_object) for item in items] == remote_targets


@needs_fetch_modes
def test_fetch_one_asks_for_each_remote_target(remote_targets):
    items = list(TaggedItem.objects.order_by("pk").fetch_mode(models.FETCH_ONE))
    with assert_num_requests(6):
        assert [str(item.content_object) for item in items] == remote_targets


@needs_fetch_modes
def test_fetch_raise_sends_no_request(remote_targets):
    from django.core.exceptions import FieldFetchBlocked

    item = TaggedItem.objects.fetch_mode(models.FETCH_RAISE).order_by("pk").first()
    with assert_num_requests(0), pytest.raises(FieldFetchBlocked):
        _ = item.content_object
