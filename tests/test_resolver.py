"""The resolver's remote path, with peers faked in-process (``tests.fake_peers``)."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from federated_relations import peers, resolver
from federated_relations.exceptions import (
    PeerAuthError,
    PeerUnavailable,
    ProtocolError,
    RemoteObjectDoesNotExist,
)
from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from federated_relations.signals import remote_deleted
from federated_relations.test import assert_num_requests
from tests import fake_peers as fakes
from tests.testapp.models import Animal, TaggedItem

pytestmark = pytest.mark.django_db
fake_peers = fakes.fake_peers


def remote_type(project: str, model: str = "animal") -> GenericContentType:
    return GenericContentType.objects.get_for_remote(project, "testapp", model)


def tag_remote(project: str, pk: object, tag: str = "t", model: str = "animal") -> TaggedItem:
    return TaggedItem.objects.create(
        tag=tag, content_type=remote_type(project, model), object_id=str(pk)
    )


@pytest.fixture
def animals(fake_peers):
    """Animals 1..3 on shop_b, 1..2 on shop_c, a vegetable on shop_b, one local lion."""
    for pk in (1, 2, 3):
        fake_peers["shop_b"].add("testapp", "animal", pk, f"B{pk}", common_name=f"b{pk}")
    for pk in (1, 2):
        fake_peers["shop_c"].add("testapp", "animal", pk, f"C{pk}", common_name=f"c{pk}")
    fake_peers["shop_b"].add("testapp", "vegetable", "kale", "Kale", name="kale")
    return Animal.objects.create(common_name="Lion", latin_name="Panthera leo")


def test_prefetch_batches_per_peer_and_type_then_hits_the_cache(fake_peers, animals):
    lion = animals
    TaggedItem.objects.create(tag="t", content_object=lion)
    for pk in (1, 2, 3):
        tag_remote("shop_b", pk)
    for pk in (1, 2):
        tag_remote("shop_c", pk)
    tag_remote("shop_b", "kale", model="vegetable")

    with assert_num_requests(3) as log:  # shop_b: animal + vegetable, shop_c: animal
        items = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
    assert len(log.to("shop_b")) == 2 and len(log.to("shop_c")) == 1
    objects = [item.content_object for item in items]
    assert objects[0] == lion
    assert [str(obj) for obj in objects[1:]] == ["B1", "B2", "B3", "C1", "C2", "Kale"]
    assert all(isinstance(obj, RemoteObject) and obj.is_loaded for obj in objects[1:])

    with assert_num_requests(0):
        again = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
        assert [str(item.content_object) for item in again[1:]] == [str(o) for o in objects[1:]]


def test_colliding_pks_stay_apart(fake_peers, animals):
    lion = animals
    for peer in ("shop_b", "shop_c"):  # the peers have an animal with the lion's pk
        name = f"{peer[-1].upper()}{lion.pk}"
        fake_peers[peer].add("testapp", "animal", lion.pk, name, common_name=name.lower())
    local = TaggedItem.objects.create(tag="local", content_object=lion)
    on_b = tag_remote("shop_b", lion.pk, tag="b")
    on_c = tag_remote("shop_c", lion.pk, tag="c")
    items = {
        item.tag: item.content_object
        for item in TaggedItem.objects.prefetch_related("content_object")
    }
    assert items["local"] == lion and isinstance(items["local"], Animal)
    assert items["b"] == RemoteObject(on_b.content_type, lion.pk)
    assert items["c"] == RemoteObject(on_c.content_type, lion.pk)
    assert items["b"] != items["c"]
    assert str(items["b"]) == f"B{lion.pk}" and str(items["c"]) == f"C{lion.pk}"
    assert local.content_object == lion


def test_forward_access_is_lazy(fake_peers, animals):
    item = tag_remote("shop_b", 2)
    item = TaggedItem.objects.get(pk=item.pk)
    with assert_num_requests(0):
        obj = item.content_object
        assert obj.pk == 2 and obj.project == "shop_b"
        assert item.content_object is obj  # cached on the instance
    with assert_num_requests(1, peer="shop_b"):
        assert obj.common_name == "b2"
        assert str(obj) == "B2"


def test_missing_objects_are_remembered_and_signalled_once(fake_peers, animals):
    tag_remote("shop_b", 1)
    tag_remote("shop_b", 99)
    signalled = []

    def receiver(sender, pk, **kwargs):
        signalled.append((sender.natural_key(), pk))

    remote_deleted.connect(receiver)
    try:
        with assert_num_requests(1):
            items = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
        assert items[1].content_object is None  # dangling, as GenericForeignKey gives
        with assert_num_requests(0):
            list(TaggedItem.objects.prefetch_related("content_object"))
            with pytest.raises(RemoteObjectDoesNotExist):
                resolver.get_object(remote_type("shop_b"), pk=99)
    finally:
        remote_deleted.disconnect(receiver)
    assert signalled == [(("shop_b", "testapp", "animal"), "99")]


def test_lazy_missing_object_raises_on_field_access(fake_peers, animals):
    obj = TaggedItem.objects.get(pk=tag_remote("shop_b", 42).pk).content_object
    with pytest.raises(RemoteObjectDoesNotExist):
        obj.common_name  # noqa: B018
    assert not hasattr(obj, "common_name")  # also an AttributeError
    assert obj.is_available is False
    assert "does not exist" in str(obj)


def test_placeholder_when_the_peer_is_unreachable(fake_peers, animals):
    fake_peers["shop_c"].error = PeerUnavailable("connection refused")
    tag_remote("shop_b", 1)
    tag_remote("shop_c", 1)
    before = TaggedItem.objects.count()
    items = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
    ok, placeholder = (item.content_object for item in items)
    assert ok.is_available and str(ok) == "B1"
    assert placeholder.is_available is False
    assert "unavailable" in str(placeholder)
    assert placeholder.pk == 1
    with pytest.raises(AttributeError):
        placeholder.common_name  # noqa: B018
    assert TaggedItem.objects.count() == before

    # Errors are not cached: once the peer is back, the object is read.
    fake_peers["shop_c"].error = None
    items = list(TaggedItem.objects.order_by("pk").prefetch_related("content_object"))
    assert str(items[1].content_object) == "C1"


def test_unconfigured_project_gives_placeholders(fake_peers, animals):
    item = tag_remote("shop_z", 1)
    obj = TaggedItem.objects.prefetch_related("content_object").get(pk=item.pk).content_object
    assert obj.is_available is False and "unavailable" in str(obj)


@pytest.mark.parametrize(
    "error", [PeerUnavailable("down"), PeerAuthError("403"), ProtocolError("garbage")]
)
def test_raise_mode_raises_the_typed_error(fake_peers, animals, settings, error):
    settings.FEDERATION = {**settings.FEDERATION, "ON_REMOTE_ERROR": "raise"}
    fake_peers["shop_b"].error = error
    item = tag_remote("shop_b", 1)
    with pytest.raises(type(error)):
        list(TaggedItem.objects.prefetch_related("content_object"))
    obj = TaggedItem.objects.get(pk=item.pk).content_object  # lazy: no request yet
    with pytest.raises(type(error)):
        obj.common_name  # noqa: B018
    assert not obj.is_loaded
    assert obj.is_available is False  # never raises


def test_an_unreachable_peer_is_asked_once_for_all_its_types(fake_peers, animals):
    fake_peers["shop_b"].error = PeerUnavailable("timed out")
    tag_remote("shop_b", 1)
    tag_remote("shop_b", "kale", model="vegetable")
    with assert_num_requests(1, peer="shop_b"):
        items = list(TaggedItem.objects.prefetch_related("content_object"))
    assert all(not item.content_object.is_available for item in items)


@pytest.mark.parametrize(
    "answer",
    [
        "not json object",
        {"objects": []},
        {"objects": [], "missing": []},  # does not account for the pk asked
        {"objects": [{"pk": 1, "str": "B1", "fields": {}}, {"pk": 7, "str": "x", "fields": {}}],
         "missing": []},  # an object that was not asked for
        {"objects": [{"pk": 1, "str": "B1", "fields": {}}], "missing": ["1"]},
        {"objects": [{"pk": [1], "str": "B1", "fields": {}}], "missing": []},
        {"objects": [{"pk": True, "str": "B1", "fields": {}}], "missing": []},
        {"objects": [{"pk": 1, "str": None, "fields": {}}], "missing": []},
        {"objects": [{"pk": 1, "str": "B1", "fields": ["title"]}], "missing": []},
        {"objects": ["x"], "missing": []},
        {"objects": [], "missing": [1]},
    ],
)
def test_malformed_answers_are_protocol_errors_and_not_cached(fake_peers, animals, answer):
    fake_peers["shop_b"].answer = answer
    tag_remote("shop_b", 1)
    obj = TaggedItem.objects.prefetch_related("content_object").get().content_object
    assert not obj.is_available
    assert isinstance(obj._error, ProtocolError)
    fake_peers["shop_b"].answer = None
    with assert_num_requests(1):
        assert str(TaggedItem.objects.prefetch_related("content_object").get().content_object)


def test_peers_are_asked_in_parallel(fake_peers, animals):
    fake_peers["shop_b"].delay = fake_peers["shop_c"].delay = 0.3
    tag_remote("shop_b", 1)
    tag_remote("shop_c", 1)
    start = time.perf_counter()
    items = list(TaggedItem.objects.prefetch_related("content_object"))
    elapsed = time.perf_counter() - start
    assert all(item.content_object.is_available for item in items)
    assert elapsed < 0.55, elapsed


def test_resolving_remote_objects_writes_nothing_locally(fake_peers, animals):
    tag_remote("shop_b", 1)
    tag_remote("shop_b", 404)
    fake_peers["shop_c"].error = PeerUnavailable("down")
    tag_remote("shop_c", 1)
    with CaptureQueriesContext(connection) as queries:
        list(TaggedItem.objects.prefetch_related("content_object"))
    writes = [
        q["sql"] for q in queries.captured_queries
        if not q["sql"].lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE"))
    ]
    assert writes == []


def test_cache_ttl_zero_disables_the_cache(fake_peers, animals, settings):
    settings.FEDERATION = {**settings.FEDERATION, "CACHE_TTL": 0}
    tag_remote("shop_b", 1)
    for _ in range(2):
        with assert_num_requests(1):
            list(TaggedItem.objects.prefetch_related("content_object"))


def test_cache_keys_are_safe_for_any_pk(fake_peers):
    ct = remote_type("shop_b")
    assert peers.cache_key(ct, "12") == "federated_relations:v1:shop_b:testapp:animal:12"
    odd = peers.cache_key(ct, "a b\n" + "x" * 300)
    assert " " not in odd and "\n" not in odd and len(odd) < 250


def test_get_object_and_local_types(fake_peers, animals):
    lion = animals
    local_type = GenericContentType.objects.get_for_model(Animal)
    assert resolver.get_object(local_type, pk=lion.pk) == lion
    assert resolver.get_target(local_type, lion.pk) == lion
    obj = resolver.get_object(remote_type("shop_b"), pk="3")
    assert obj.is_loaded and obj.pk == 3 and obj.common_name == "b3"
    with pytest.raises(ValueError):
        resolver.get_object(remote_type("shop_b"), common_name="b3")
    with pytest.raises(ValueError):
        resolver.reference(local_type, 1).common_name  # noqa: B018


def test_mark_missing_and_forget(fake_peers, animals):
    ct = remote_type("shop_b")
    signalled = []
    remote_deleted.connect(lambda sender, pk, **kw: signalled.append(pk), weak=False,
                           dispatch_uid="test_mark_missing")
    try:
        peers.mark_missing(ct, ["1"])
        peers.mark_missing(ct, ["1"])
    finally:
        remote_deleted.disconnect(dispatch_uid="test_mark_missing")
    assert signalled == ["1"]
    with assert_num_requests(0):
        with pytest.raises(RemoteObjectDoesNotExist):
            resolver.get_object(ct, pk=1)
    peers.forget(ct, [1])
    with assert_num_requests(1):
        assert str(resolver.get_object(ct, pk=1)) == "B1"


def test_discover(fake_peers, animals):
    assert peers.discover("shop_b")["project"] == "shop_b"
    with pytest.raises(PeerUnavailable):
        peers.discover("nobody")


def test_a_remote_type_without_an_object_id_reads_as_none(fake_peers):
    from tests.testapp.models import NullableTaggedItem

    item = NullableTaggedItem.objects.create(content_type=remote_type("shop_b"), object_id=None)
    with assert_num_requests(0):
        assert NullableTaggedItem.objects.get(pk=item.pk).content_object is None
