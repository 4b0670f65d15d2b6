"""``GenericContentType`` and its manager, after Django's ``contenttypes_tests/test_models.py``."""

from __future__ import annotations

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import TestCase, TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext

from federated_relations.models import GenericContentType
from tests.testapp.models import (
    Animal,
    Guild,
    Mineral,
    ProxyMineral,
    TaggedItem,
    UUIDBook,
    Vegetable,
)


class ManagerCacheTests(TestCase):
    def setUp(self):
        GenericContentType.objects.clear_cache()
        self.addCleanup(GenericContentType.objects.clear_cache)

    def test_get_for_model_is_cached(self):
        with self.assertNumQueries(1):
            ct = GenericContentType.objects.get_for_model(Animal)
        with self.assertNumQueries(0):
            self.assertIs(GenericContentType.objects.get_for_model(Animal), ct)
            self.assertIs(GenericContentType.objects.get_for_model(Animal()), ct)
            self.assertIs(GenericContentType.objects.get_for_id(ct.pk), ct)
            self.assertIs(
                GenericContentType.objects.get_by_natural_key(*ct.natural_key()), ct
            )
        GenericContentType.objects.clear_cache()
        with self.assertNumQueries(1):
            GenericContentType.objects.get_for_model(Animal)

    def test_get_for_model_returns_this_projects_type(self):
        ct = GenericContentType.objects.get_for_model(Animal)
        self.assertEqual(ct.natural_key(), ("local_project", "testapp", "animal"))
        self.assertIs(ct.is_local, True)

    def test_get_for_id_is_cached(self):
        ct = GenericContentType.objects.get_for_model(Vegetable)
        GenericContentType.objects.clear_cache()
        with self.assertNumQueries(1):
            self.assertEqual(GenericContentType.objects.get_for_id(ct.pk), ct)
        with self.assertNumQueries(0):
            GenericContentType.objects.get_for_id(ct.pk)
            GenericContentType.objects.get_for_model(Vegetable)  # cached by id fills the key

    def test_get_for_id_does_not_create(self):
        with self.assertRaises(GenericContentType.DoesNotExist):
            GenericContentType.objects.get_for_id(10**9)

    def test_get_for_ids_loads_missing_in_one_query(self):
        cts = [GenericContentType.objects.get_for_model(m) for m in (Animal, Vegetable, Mineral)]
        GenericContentType.objects.clear_cache()
        GenericContentType.objects.get_for_id(cts[0].pk)
        with self.assertNumQueries(1):
            found = GenericContentType.objects.get_for_ids(*(ct.pk for ct in cts), 10**9)
        self.assertEqual(found, {ct.pk: ct for ct in cts})
        with self.assertNumQueries(0):
            GenericContentType.objects.get_for_ids(*(ct.pk for ct in cts))

    def test_get_for_models(self):
        with self.assertNumQueries(1):
            cts = GenericContentType.objects.get_for_models(Animal, Vegetable, Mineral)
        self.assertEqual(
            cts,
            {
                Animal: GenericContentType.objects.get_for_model(Animal),
                Vegetable: GenericContentType.objects.get_for_model(Vegetable),
                Mineral: GenericContentType.objects.get_for_model(Mineral),
            },
        )
        with self.assertNumQueries(0):
            GenericContentType.objects.get_for_models(Animal, Vegetable)

    def test_get_for_models_partial_cache(self):
        GenericContentType.objects.get_for_model(Animal)
        with self.assertNumQueries(1):
            cts = GenericContentType.objects.get_for_models(Animal, Vegetable)
        self.assertEqual(set(cts), {Animal, Vegetable})

    def test_get_for_models_empty(self):
        with self.assertNumQueries(0):
            self.assertEqual(GenericContentType.objects.get_for_models(), {})

    def test_get_for_models_with_instances_and_proxies(self):
        proxy = ProxyMineral.objects.create(name="x", hardness=1)
        cts = GenericContentType.objects.get_for_models(Mineral, proxy)
        self.assertEqual(cts[Mineral], cts[proxy])
        cts = GenericContentType.objects.get_for_models(
            Mineral, ProxyMineral, for_concrete_models=False
        )
        self.assertEqual(cts[Mineral].model, "mineral")
        self.assertEqual(cts[ProxyMineral].model, "proxymineral")

    def test_get_for_model_proxy(self):
        concrete = GenericContentType.objects.get_for_model(ProxyMineral)
        self.assertEqual(concrete.model, "mineral")
        proxy = GenericContentType.objects.get_for_model(ProxyMineral, for_concrete_model=False)
        self.assertEqual(proxy.model, "proxymineral")
        self.assertIs(proxy.model_class(), ProxyMineral)

    def test_get_for_model_creates_a_missing_type(self):
        GenericContentType.objects.filter(model="guild").delete()
        GenericContentType.objects.clear_cache()
        ct = GenericContentType.objects.get_for_model(Guild)
        self.assertTrue(GenericContentType.objects.filter(pk=ct.pk).exists())

    def test_get_for_models_creates_missing_types(self):
        GenericContentType.objects.filter(model__in=["guild", "team"]).delete()
        GenericContentType.objects.clear_cache()
        cts = GenericContentType.objects.get_for_models(Guild, Animal)
        self.assertEqual(cts[Guild].model, "guild")
        self.assertTrue(GenericContentType.objects.filter(pk=cts[Guild].pk).exists())

    def test_get_for_remote_creates_then_caches(self):
        with CaptureQueriesContext(connection) as ctx:
            ct = GenericContentType.objects.get_for_remote("shop_b", "library", "Book")
        inserts = [q for q in ctx.captured_queries if q["sql"].startswith("INSERT")]
        self.assertEqual(len(inserts), 1)
        self.assertEqual(ct.natural_key(), ("shop_b", "library", "book"))
        with self.assertNumQueries(0):
            again = GenericContentType.objects.get_for_remote("shop_b", "library", "book")
            self.assertIs(again, ct)
            self.assertIs(GenericContentType.objects.get_for_id(ct.pk), ct)

    def test_get_by_natural_key(self):
        ct = GenericContentType.objects.get_for_remote("shop_b", "library", "book")
        GenericContentType.objects.clear_cache()
        with self.assertNumQueries(1):
            self.assertEqual(
                GenericContentType.objects.get_by_natural_key("shop_b", "library", "book"), ct
            )
        with self.assertNumQueries(0):
            GenericContentType.objects.get_by_natural_key("shop_b", "library", "book")
        # A peer's type is created, as by get_for_remote() (fixtures in a fresh database).
        created = GenericContentType.objects.get_by_natural_key("shop_c", "library", "book")
        self.assertEqual(created.natural_key(), ("shop_c", "library", "book"))
        with self.assertRaisesMessage(GenericContentType.DoesNotExist, "local_project.x.y"):
            GenericContentType.objects.get_by_natural_key("local_project", "x", "y")

    def test_cache_is_per_database(self):
        ct = GenericContentType.objects.get_for_model(Animal)
        self.assertIn(ct.natural_key(), GenericContentType.objects._cache["default"])
        self.assertNotIn("other", GenericContentType.objects._cache)

    def test_db_manager_shares_the_cache(self):
        ct = GenericContentType.objects.db_manager("default").get_for_model(Animal)
        with self.assertNumQueries(0):
            self.assertIs(GenericContentType.objects.get_for_model(Animal), ct)

    def test_db_manager_is_bound_to_its_database_once(self):
        manager = GenericContentType.objects
        other = manager.db_manager("other")
        self.assertEqual(other.db, "other")
        self.assertEqual(manager.db_manager("default").db, "default")
        self.assertIs(manager.db_manager("other"), other)
        self.assertIs(other.db_manager("other"), other)
        self.assertEqual(other.db_manager("default").db, "default")
        self.assertEqual(other.db_manager(None).db, "other")  # as Django's: keeps its own
        self.assertEqual(manager.db, "default")  # the default manager stays unbound
        hinted = manager.db_manager("other", hints={"instance": None})
        self.assertIsNot(hinted, other)
        self.assertEqual(hinted._hints, {"instance": None})


class RolledBackCreationTests(TestCase):
    """A type created in a transaction that rolls back must not stay cached."""

    def setUp(self):
        GenericContentType.objects.clear_cache()
        self.addCleanup(GenericContentType.objects.clear_cache)

    def test_rolled_back_remote_type_is_not_served(self):
        with transaction.atomic():
            created = GenericContentType.objects.get_for_remote("shop_z", "app", "thing")
            with self.assertNumQueries(0):  # cached while its transaction lives
                self.assertIs(
                    GenericContentType.objects.get_for_remote("shop_z", "app", "thing"), created
                )
                self.assertIs(GenericContentType.objects.get_for_id(created.pk), created)
            transaction.set_rollback(True)
        self.assertFalse(GenericContentType.objects.filter(pk=created.pk).exists())
        again = GenericContentType.objects.get_for_remote("shop_z", "app", "thing")
        self.assertTrue(GenericContentType.objects.filter(pk=again.pk).exists())
        # The row it points at exists, so a referencing row can be saved.
        TaggedItem.objects.create(tag="x", content_type=again, object_id="1")

    def test_rolled_back_local_type_is_not_served(self):
        GenericContentType.objects.filter(model="guild").delete()
        with transaction.atomic():
            created = GenericContentType.objects.get_for_model(Guild)
            transaction.set_rollback(True)
        self.assertFalse(GenericContentType.objects.filter(pk=created.pk).exists())
        ct = GenericContentType.objects.get_for_model(Guild)
        self.assertTrue(GenericContentType.objects.filter(pk=ct.pk).exists())

    def test_committed_type_stays_cached(self):
        with self.captureOnCommitCallbacks(execute=True):
            ct = GenericContentType.objects.get_for_remote("shop_z", "app", "kept")
        # Still inside the test's transaction: captured callbacks must not promote it early.
        self.assertNotIn(ct.natural_key(), GenericContentType.objects._cache.get("default", {}))
        with self.assertNumQueries(0):
            self.assertIs(GenericContentType.objects.get_for_remote("shop_z", "app", "kept"), ct)


class PromotionTests(TransactionTestCase):
    # No available_apps: the flush after each test must re-create the types (post_migrate)
    # for the transactional tests that run next.

    def setUp(self):
        GenericContentType.objects.clear_cache()

    def test_committed_creation_is_cached_after_commit(self):
        with transaction.atomic():
            ct = GenericContentType.objects.get_for_remote("shop_z", "app", "thing")
            cache = GenericContentType.objects._cache.get("default", {})
            self.assertNotIn(ct.natural_key(), cache)
        self.assertIs(GenericContentType.objects._cache["default"][ct.natural_key()], ct)
        with self.assertNumQueries(0):
            GenericContentType.objects.get_for_remote("shop_z", "app", "thing")

    def test_creation_outside_a_transaction_is_cached_at_once(self):
        ct = GenericContentType.objects.get_for_remote("shop_z", "app", "thing")
        self.assertIs(GenericContentType.objects._cache["default"][ct.natural_key()], ct)


class FlushTests(TransactionTestCase):
    """The cache is emptied when a flush re-creates the types (post_migrate)."""

    def test_flush_clears_the_cache(self):
        remote_ct = GenericContentType.objects.get_for_remote("shop_b", "library", "book")
        GenericContentType.objects.get_for_model(Animal)
        call_command("flush", verbosity=0, interactive=False)
        self.assertFalse(GenericContentType.objects.filter(pk=remote_ct.pk).exists())
        self.assertNotIn(
            remote_ct.natural_key(), GenericContentType.objects._cache.get("default", {})
        )
        # Local types were created again by post_migrate, and are what is served.
        ct = GenericContentType.objects.get_for_model(Animal)
        self.assertTrue(GenericContentType.objects.filter(pk=ct.pk).exists())
        new_remote = GenericContentType.objects.get_for_remote("shop_b", "library", "book")
        self.assertTrue(GenericContentType.objects.filter(pk=new_remote.pk).exists())


class PostMigrateTests(TestCase):
    def test_every_installed_model_has_a_local_type(self):
        expected = {
            ("local_project", m._meta.app_label, m._meta.model_name) for m in apps.get_models()
        }
        existing = set(
            GenericContentType.objects.filter(project="local_project").values_list(
                "project", "app_label", "model"
            )
        )
        self.assertLessEqual(expected, existing)

    def test_local_types_need_no_insert(self):
        GenericContentType.objects.clear_cache()
        with CaptureQueriesContext(connection) as ctx:
            GenericContentType.objects.get_for_models(*apps.get_models())
        self.assertEqual(len(ctx.captured_queries), 1)
        self.assertNotIn("INSERT", ctx.captured_queries[0]["sql"].upper())

    def test_handler_is_idempotent_and_recreates_missing_rows(self):
        from federated_relations.management import create_generic_content_types

        GenericContentType.objects.filter(project="local_project", model="animal").delete()
        config = apps.get_app_config("testapp")
        create_generic_content_types(config, verbosity=0)
        create_generic_content_types(config, verbosity=0)
        self.assertEqual(
            GenericContentType.objects.filter(project="local_project", model="animal").count(), 1
        )

    def test_handler_prints_at_verbosity_2(self):
        from io import StringIO
        from unittest import mock

        from federated_relations.management import create_generic_content_types

        GenericContentType.objects.filter(project="local_project", model="vegetable").delete()
        with mock.patch("sys.stdout", new_callable=StringIO) as stdout:
            create_generic_content_types(apps.get_app_config("testapp"), verbosity=2)
        self.assertIn("local_project | testapp | vegetable", stdout.getvalue())


class InstanceTests(TestCase):
    def test_str_of_a_local_type_reads_like_content_type(self):
        ct = GenericContentType.objects.get_for_model(Animal)
        self.assertEqual(str(ct), str(ContentType.objects.get_for_model(Animal)))
        self.assertEqual(str(ct), "Testapp | animal")

    def test_str_of_a_local_type_with_verbose_names(self):
        ct = GenericContentType.objects.get_for_model(GenericContentType)
        self.assertEqual(str(ct), "Federated relations | generic content type")

    def test_str_of_a_remote_type_is_prefixed_with_its_project(self):
        ct = GenericContentType.objects.get_for_remote("shop_b", "library", "book")
        self.assertEqual(str(ct), "shop_b | library | book")

    def test_str_of_a_stale_local_type(self):
        ct = GenericContentType.objects.get_for_remote("local_project", "gone", "model")
        self.assertEqual(str(ct), "model")
        self.assertIsNone(ct.model_class())

    def test_name(self):
        self.assertEqual(GenericContentType.objects.get_for_model(UUIDBook).name, "uuid book")
        self.assertEqual(
            GenericContentType.objects.get_for_remote("shop_b", "library", "book").name, "book"
        )

    def test_app_labeled_name(self):
        ct = GenericContentType.objects.get_for_model(Animal)
        self.assertEqual(ct.app_labeled_name, "Testapp | animal")

    def test_is_local(self):
        self.assertIs(GenericContentType.objects.get_for_model(Animal).is_local, True)
        remote = GenericContentType.objects.get_for_remote("shop_b", "testapp", "animal")
        self.assertIs(remote.is_local, False)
        shared = GenericContentType.objects.get_for_remote("shared", "testapp", "animal")
        self.assertIs(shared.is_local, False)
        self.assertIs(shared.is_shared, True)
        self.assertIs(shared.resolves_locally, True)

    def test_model_class(self):
        self.assertIs(GenericContentType.objects.get_for_model(Animal).model_class(), Animal)
        remote = GenericContentType.objects.get_for_remote("shop_b", "testapp", "animal")
        self.assertIsNone(remote.model_class())
        shared = GenericContentType.objects.get_for_remote("shared", "testapp", "animal")
        self.assertIs(shared.model_class(), Animal)
        shared_missing = GenericContentType.objects.get_for_remote("shared", "nope", "thing")
        self.assertIsNone(shared_missing.model_class())

    def test_get_object_for_this_type(self):
        lion = Animal.objects.create(common_name="Lion")
        ct = GenericContentType.objects.get_for_model(Animal)
        self.assertEqual(ct.get_object_for_this_type(pk=lion.pk), lion)
        self.assertEqual(ct.get_object_for_this_type(common_name="Lion"), lion)
        with self.assertRaises(Animal.DoesNotExist):
            ct.get_object_for_this_type(pk=lion.pk + 1)

    def test_get_object_for_this_type_of_a_shared_type(self):
        lion = Animal.objects.create(common_name="Lion")
        shared = GenericContentType.objects.get_for_remote("shared", "testapp", "animal")
        self.assertEqual(shared.get_object_for_this_type(pk=lion.pk), lion)

    def test_get_object_for_this_type_using(self):
        lion = Animal.objects.create(common_name="Lion")
        ct = GenericContentType.objects.get_for_model(Animal)
        with self.assertNumQueries(1, using="default"):
            ct.get_object_for_this_type(using="default", pk=lion.pk)

    def test_get_all_objects_for_this_type(self):
        lion = Animal.objects.create(common_name="Lion")
        Animal.objects.create(common_name="Tiger")
        ct = GenericContentType.objects.get_for_model(Animal)
        self.assertEqual(list(ct.get_all_objects_for_this_type(common_name="Lion")), [lion])
        remote = GenericContentType.objects.get_for_remote("shop_b", "testapp", "animal")
        with self.assertRaises(ValueError):
            remote.get_all_objects_for_this_type()

    def test_natural_key(self):
        ct = GenericContentType.objects.get_for_remote("shop_b", "library", "book")
        self.assertEqual(ct.natural_key(), ("shop_b", "library", "book"))
        self.assertEqual(
            GenericContentType.objects.get_by_natural_key(*ct.natural_key()).pk, ct.pk
        )

    def test_unique_on_project_app_label_model(self):
        GenericContentType.objects.get_for_remote("shop_b", "library", "book")
        with self.assertRaises(IntegrityError), transaction.atomic():
            GenericContentType.objects.create(project="shop_b", app_label="library", model="book")
        # The same model in another project is another type.
        GenericContentType.objects.create(project="shop_c", app_label="library", model="book")

    def test_serialization_with_natural_keys(self):
        from django.core import serializers

        ct = GenericContentType.objects.get_for_remote("shop_b", "library", "book")
        tag = TaggedItem.objects.create(tag="x", content_type=ct, object_id="3")
        data = serializers.serialize("json", [tag], use_natural_foreign_keys=True)
        self.assertIn('"content_type": ["shop_b", "library", "book"]', data)
        (restored,) = serializers.deserialize("json", data)
        self.assertEqual(restored.object.content_type, ct)


class ProjectChangeTests(TestCase):
    """Changing PROJECT_NAME (``override_settings``) never serves the old project's types."""

    def test_get_for_model_follows_the_project(self):
        before = GenericContentType.objects.get_for_model(Animal)
        with override_settings(FEDERATION={"PROJECT_NAME": "renamed"}):
            during = GenericContentType.objects.get_for_model(Animal)
            self.assertEqual(during.project, "renamed")
            self.assertIs(during.is_local, True)
            before.refresh_from_db()
            self.assertIs(before.is_local, False)
            self.assertIsNone(before.model_class())
        after = GenericContentType.objects.get_for_model(Animal)
        self.assertEqual(after.pk, before.pk)
        self.assertTrue(GenericContentType.objects.filter(pk=after.pk).exists())

    def test_cache_is_cleared_on_change(self):
        GenericContentType.objects.get_for_model(Animal)
        with override_settings(FEDERATION={"PROJECT_NAME": "renamed"}):
            self.assertEqual(GenericContentType.objects._cache, {})
            GenericContentType.objects.get_for_model(Animal)
        self.assertEqual(GenericContentType.objects._cache, {})

    def test_relation_follows_the_project(self):
        lion = Animal.objects.create(common_name="Lion")
        tag = lion.tags.create(tag="x")
        with override_settings(FEDERATION={"PROJECT_NAME": "renamed"}):
            # The row now points at another project's type: it no longer joins.
            self.assertEqual(list(Animal.objects.filter(tags__tag="x")), [])
            self.assertEqual(list(lion.tags.all()), [])
        self.assertEqual(list(lion.tags.all()), [tag])
