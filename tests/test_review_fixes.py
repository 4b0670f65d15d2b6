"""Regression tests of the bugs the review found, one class per bug."""

from __future__ import annotations

import io
import sys
import threading
from typing import Any
from unittest import skipIf

import django
import pytest
from django.core import serializers
from django.core.management import call_command
from django.db import connections, transaction
from django.test import TestCase, TransactionTestCase, override_settings

from federated_relations import added_relations
from federated_relations.exceptions import InvalidTarget
from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from federated_relations.test import capture_requests
from tests import fake_peers as fakes
from tests.m2m_app.models import Movie, Owner, User
from tests.testapp.models import Animal, TaggedItem

fake_peers = fakes.fake_peers

SERIALIZATION_MODULES = {
    "json": "federated_relations.serializers.json",
    "xml": "federated_relations.serializers.xml_serializer",
}


class SharedTypeCacheTests(TestCase):
    """A target prefetched through a "shared" type counts as cached."""

    def test_prefetched_shared_targets_are_read_without_queries(self):
        shared = GenericContentType.objects.get_for_remote("shared", "testapp", "animal")
        for name in ("Lion", "Tiger", "Bear"):
            animal = Animal.objects.create(common_name=name, latin_name=name)
            TaggedItem.objects.create(tag=name, content_type=shared, object_id=str(animal.pk))
        tags = list(TaggedItem.objects.prefetch_related("content_object"))
        with self.assertNumQueries(0):
            for _ in range(2):
                names = sorted(tag.content_object.common_name for tag in tags)
        self.assertEqual(names, ["Bear", "Lion", "Tiger"])

    @skipIf(django.VERSION < (6, 1), "fetch modes are Django 6.1's")
    def test_fetch_peers_loads_shared_targets_once(self):
        from django.db.models import FETCH_PEERS

        shared = GenericContentType.objects.get_for_remote("shared", "testapp", "animal")
        for name in ("Lion", "Tiger", "Bear"):
            animal = Animal.objects.create(common_name=name, latin_name=name)
            TaggedItem.objects.create(tag=name, content_type=shared, object_id=str(animal.pk))
        tags = list(TaggedItem.objects.fetch_mode(FETCH_PEERS).order_by("pk"))
        with self.assertNumQueries(1):
            names = [tag.content_object.common_name for tag in tags]
        self.assertEqual(names, ["Lion", "Tiger", "Bear"])

    def test_a_changed_id_still_reloads(self):
        shared = GenericContentType.objects.get_for_remote("shared", "testapp", "animal")
        lion = Animal.objects.create(common_name="Lion", latin_name="Panthera leo")
        tiger = Animal.objects.create(common_name="Tiger", latin_name="Panthera tigris")
        TaggedItem.objects.create(tag="t", content_type=shared, object_id=str(lion.pk))
        tag = TaggedItem.objects.prefetch_related("content_object").get()
        tag.object_id = str(tiger.pk)
        self.assertEqual(tag.content_object, tiger)


class PendingTypeThreadTests(TransactionTestCase):
    """A type created in one thread's open transaction is not handed to another thread."""

    def test_other_thread_does_not_get_an_uncommitted_type(self):
        created = threading.Event()
        checked = threading.Event()
        seen: dict[str, Any] = {}

        def other_thread() -> None:
            created.wait(10)
            try:
                seen["types"] = GenericContentType.objects.get_for_ids(seen["id"])
            except Exception as error:  # noqa: BLE001 - SQLite may report the lock
                seen["types"] = error
            finally:
                connections.close_all()
                checked.set()

        thread = threading.Thread(target=other_thread)
        thread.start()
        try:
            with transaction.atomic():
                ct = GenericContentType.objects.get_for_remote("shop_b", "pending", "thing")
                seen["id"] = ct.id
                created.set()
                checked.wait(10)
        finally:
            created.set()
            thread.join(10)
        types = seen["types"]
        self.assertFalse(isinstance(types, dict) and ct.id in types, types)
        # Once committed, the creating thread's cache holds it.
        with self.assertNumQueries(0):
            self.assertEqual(GenericContentType.objects.get_for_id(ct.id), ct)


@pytest.fixture
def federated_formats(fake_peers):
    fake_peers["shop_b"].add("m2m_app", "movie", 5, "A peer's movie")
    # The registry is filled once from SERIALIZATION_MODULES: refill it around the test.
    serializers._serializers = {}
    with override_settings(SERIALIZATION_MODULES=SERIALIZATION_MODULES):
        yield
    serializers._serializers = {}


def _dump_user_with_a_peer_target(tmp_path: Any, fmt: str) -> Any:
    remote_type = GenericContentType.objects.get_for_remote("shop_b", "m2m_app", "movie")
    user = User.objects.create(name="u")
    user.preferred_videos.add(RemoteObject(remote_type, 5))
    out = io.StringIO()
    call_command(
        "dumpdata", "m2m_app.user", "federated_relations.genericcontenttype",
        natural_foreign=True, format=fmt, stdout=out,
    )
    fixture = tmp_path / f"users.{fmt}"
    fixture.write_text(out.getvalue())
    User.preferred_videos.through.objects.all().delete()
    User.objects.all().delete()
    return fixture


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_loaddata_with_a_removed_peer_asks_no_peer(federated_formats, settings, tmp_path, fmt):
    fixture = _dump_user_with_a_peer_target(tmp_path, fmt)
    only_c = {"shop_c": fakes.PEERS_SETTING["shop_c"]}
    settings.FEDERATION = {**settings.FEDERATION, "PEERS": only_c}
    with capture_requests() as requests:
        call_command("loaddata", str(fixture), verbosity=0)
    assert len(requests) == 0
    through = User.preferred_videos.through
    assert list(through.objects.values_list("content_type__project", "object_id")) == [
        ("shop_b", "5")
    ]


@pytest.mark.django_db
def test_set_base_raw_skips_the_peer_checks(fake_peers, settings):
    remote_type = GenericContentType.objects.get_for_remote("shop_b", "m2m_app", "movie")
    user = User.objects.create(name="u")
    settings.FEDERATION = {**settings.FEDERATION, "PEERS": {}}
    with capture_requests() as requests:
        user.preferred_videos.set_base([RemoteObject(remote_type, 5)], raw=True)
    assert len(requests) == 0
    assert user.preferred_videos.through.objects.count() == 1
    # Without raw, the same target is still refused.
    with pytest.raises(InvalidTarget):
        User.objects.create(name="v").preferred_videos.set_base([RemoteObject(remote_type, 6)])


class ReplicaRouter:
    """Reads from the replica ("other"), writes to the primary ("default")."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "other"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return True


@override_settings(DATABASE_ROUTERS=[ReplicaRouter()])
class ReverseManagerWriteDatabaseTests(TestCase):
    """The reverse manager's create() family saves new sources on the write database."""

    databases = {"default", "other"}

    def test_create_saves_on_the_primary(self):
        movie = Movie.objects.create(title="m")
        owner = movie.cascade_owners.create(name="created")
        self.assertEqual(owner._state.db, "default")
        self.assertTrue(Owner.objects.using("default").filter(name="created").exists())
        self.assertFalse(Owner.objects.using("other").filter(name="created").exists())

    def test_get_or_create_and_update_or_create_save_on_the_primary(self):
        movie = Movie.objects.create(title="m")
        first, created = movie.cascade_owners.get_or_create(name="got")
        self.assertTrue(created)
        second, created = movie.cascade_owners.update_or_create(name="updated")
        self.assertTrue(created)
        for owner in (first, second):
            self.assertEqual(owner._state.db, "default")
        self.assertEqual(
            set(Owner.objects.using("default").values_list("name", flat=True)),
            {"got", "updated"},
        )
        self.assertFalse(Owner.objects.using("other").exists())

    def test_db_manager_names_the_database(self):
        movie = Movie.objects.create(title="m")
        owner = movie.cascade_owners.db_manager("default").create(name="explicit")
        self.assertEqual(owner._state.db, "default")
        self.assertFalse(Owner.objects.using("other").exists())


class ForwardManagerTests(TestCase):
    """The forward manager follows the instance's pk, and rows keep their stored text."""

    def test_manager_made_before_save_uses_the_saved_pk(self):
        user = User(name="u")
        manager = user.preferred_videos
        user.save()
        movie = Movie.objects.create(title="m")
        manager.add(movie)
        self.assertEqual(list(manager.all()), [movie])
        self.assertEqual(manager.count(), 1)
        self.assertEqual(list(User.objects.get(pk=user.pk).preferred_videos.all()), [movie])

    def _user_with_a_missing_row(self) -> tuple[User, Any]:
        user = User.objects.create(name="u")
        through = User.preferred_videos.through
        link = User._meta.get_field("preferred_videos").link
        ct = GenericContentType.objects.get_for_model(Movie)
        through.objects.create(
            **{
                link.source_field.attname: user.pk,
                link.content_type_field.attname: ct.pk,
                link.object_id: "0999",  # no movie 999, and not the canonical "999"
            }
        )
        return user, through

    def test_remove_a_missing_target_with_non_canonical_text(self):
        user, through = self._user_with_a_missing_row()
        [missing] = list(user.preferred_videos.all())
        self.assertIs(missing.is_available, False)
        user.preferred_videos.remove(missing)
        self.assertFalse(through.objects.exists())

    def test_set_all_keeps_a_missing_target_with_non_canonical_text(self):
        user, through = self._user_with_a_missing_row()
        user.preferred_videos.set(user.preferred_videos.all())
        link = User._meta.get_field("preferred_videos").link
        self.assertEqual(list(through.objects.values_list(link.object_id, flat=True)), ["0999"])


class RestoreThreadTests(TransactionTestCase):
    """A thread connecting while another restores the relations waits for the restore."""

    def test_second_thread_returns_only_after_the_restore(self):
        alias = "default"
        in_restore = threading.Event()
        release = threading.Event()
        order: list[str] = []

        def hold_the_first_query(execute: Any, sql: str, params: Any, many: bool, context: Any):
            in_restore.set()
            release.wait(10)
            return execute(sql, params, many, context)

        def restoring_thread() -> None:
            connection = connections[alias]
            try:
                with connection.execute_wrapper(hold_the_first_query):
                    added_relations.restore_on_connect(None, connection)
                order.append("restore done")
            finally:
                connection.close()

        def connecting_thread() -> None:
            connection = connections[alias]
            try:
                added_relations.restore_on_connect(None, connection)
                order.append("second returned")
            finally:
                connection.close()

        was_restored = alias in added_relations._restored
        added_relations._restored.discard(alias)
        first = threading.Thread(target=restoring_thread)
        second = threading.Thread(target=connecting_thread)
        try:
            first.start()
            self.assertTrue(in_restore.wait(10))
            second.start()
            second.join(0.5)  # returns at once without the fix; waits with it
        finally:
            release.set()
            first.join(10)
            second.join(10)
            if was_restored:
                added_relations._restored.add(alias)
        self.assertEqual(order, ["restore done", "second returned"])


def test_concurrent_add_relation_adds_one_reverse_field() -> None:
    """Threads relating the same model at once give it one reverse field."""
    from django.db import models as db_models

    class Target(db_models.Model):
        class Meta:
            app_label = "m2m_app"

    field = User._meta.get_field("preferred_videos")
    barrier = threading.Barrier(8)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so an unlocked check-then-add races

    def relate() -> None:
        barrier.wait(10)
        field._add_reverse(Target, on_delete=None, added=True, auto=True)

    try:
        threads = [threading.Thread(target=relate) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        sys.setswitchinterval(interval)
        field.reverse_fields.pop(Target, None)
        del Target._meta.apps.all_models["m2m_app"]["target"]
        Target._meta.apps.clear_cache()
    name = field.related_query_name()
    assert [f.name for f in Target._meta.private_fields].count(name) == 1
