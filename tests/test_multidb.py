"""Several databases: ``using``, routers and cross-database errors.

After the generic-key parts of Django's ``multiple_database`` tests.
"""

from __future__ import annotations

from django.db import transaction
from django.test import TestCase, override_settings

from federated_relations.models import GenericContentType
from tests.testapp.models import Animal, TaggedItem, Vegetable


class TestRouter:
    """Everything may relate across the two databases; reads go to "other", writes too."""

    def db_for_read(self, model, instance=None, **hints):
        if instance is not None and instance._state.db:
            return instance._state.db
        return "other"

    def db_for_write(self, model, **hints):
        return "other"

    def allow_relation(self, obj1, obj2, **hints):
        return obj1._state.db in ("default", "other") and obj2._state.db in ("default", "other")

    def allow_migrate(self, db, app_label, **hints):
        return True


class SeparationTests(TestCase):
    databases = {"default", "other"}

    def test_types_are_cached_per_database(self):
        default_ct = GenericContentType.objects.get_for_model(Animal)
        other_ct = GenericContentType.objects.db_manager("other").get_for_model(Animal)
        self.assertEqual(default_ct._state.db, "default")
        self.assertEqual(other_ct._state.db, "other")
        self.assertIsNot(default_ct, other_ct)
        with self.assertNumQueries(0, using="other"), self.assertNumQueries(0):
            GenericContentType.objects.db_manager("other").get_for_model(Animal)
            GenericContentType.objects.db_manager("other").get_for_id(other_ct.pk)

    def test_remote_type_created_on_the_database_asked(self):
        ct = GenericContentType.objects.db_manager("other").get_for_remote("shop_b", "a", "b")
        self.assertEqual(ct._state.db, "other")
        self.assertTrue(GenericContentType.objects.using("other").filter(pk=ct.pk).exists())
        self.assertFalse(
            GenericContentType.objects.filter(project="shop_b", app_label="a").exists()
        )

    def test_generic_key_separation(self):
        lion = Animal.objects.create(common_name="Lion")
        tag1 = TaggedItem.objects.create(tag="default", content_object=lion)
        dodo = Animal.objects.using("other").create(common_name="Dodo")
        tag2 = TaggedItem.objects.using("other").create(tag="other", content_object=dodo)

        self.assertEqual(tag1.content_type._state.db, "default")
        self.assertEqual(tag2.content_type._state.db, "other")

        tag1 = TaggedItem.objects.using("default").get(tag="default")
        self.assertEqual(tag1.content_object._state.db, "default")
        self.assertEqual(tag1.content_object, lion)
        tag2 = TaggedItem.objects.using("other").get(tag="other")
        self.assertEqual(tag2.content_object._state.db, "other")
        self.assertEqual(tag2.content_object, dodo)

        self.assertEqual(list(lion.tags.values_list("tag", flat=True)), ["default"])
        self.assertEqual(list(dodo.tags.values_list("tag", flat=True)), ["other"])

    def test_reading_uses_the_instances_database(self):
        dodo = Animal.objects.using("other").create(common_name="Dodo")
        tag = TaggedItem.objects.using("other").create(tag="x", content_object=dodo)
        tag = TaggedItem.objects.using("other").get(pk=tag.pk)
        with self.assertNumQueries(0, using="default"):
            self.assertEqual(tag.content_object, dodo)

    def test_prefetch_uses_the_querysets_database(self):
        dodo = Animal.objects.using("other").create(common_name="Dodo")
        kale = Vegetable.objects.using("other").create(name="Kale")
        TaggedItem.objects.using("other").create(tag="a", content_object=dodo)
        TaggedItem.objects.using("other").create(tag="b", content_object=kale)
        GenericContentType.objects.db_manager("other").get_for_models(Animal, Vegetable)
        with self.assertNumQueries(0, using="default"), self.assertNumQueries(3, using="other"):
            items = list(
                TaggedItem.objects.using("other").order_by("tag").prefetch_related(
                    "content_object"
                )
            )
        self.assertEqual([i.content_object for i in items], [dodo, kale])
        self.assertEqual({i.content_object._state.db for i in items}, {"other"})

    def test_reverse_operations_on_another_database(self):
        dodo = Animal.objects.using("other").create(common_name="Dodo")
        tag = dodo.tags.create(tag="extinct")
        self.assertEqual(tag._state.db, "other")
        other_tag = TaggedItem.objects.using("other").create(tag="moved", content_object=dodo)
        dodo.tags.remove(other_tag)
        self.assertEqual(list(dodo.tags.values_list("tag", flat=True)), ["extinct"])
        loose = TaggedItem.objects.using("other").create(
            tag="loose", content_object=Animal.objects.using("other").create(common_name="Moa")
        )
        dodo.tags.add(loose)
        self.assertEqual(
            sorted(dodo.tags.values_list("tag", flat=True)), ["extinct", "loose"]
        )
        dodo.tags.clear()
        self.assertEqual(dodo.tags.count(), 0)
        self.assertFalse(TaggedItem.objects.exists())

    def test_filter_through_the_relation_on_another_database(self):
        dodo = Animal.objects.using("other").create(common_name="Dodo")
        dodo.tags.create(tag="extinct")
        self.assertEqual(
            list(Animal.objects.using("other").filter(tags__tag="extinct")), [dodo]
        )
        self.assertEqual(list(Animal.objects.filter(tags__tag="extinct")), [])

    def test_joins_use_the_type_id_of_the_querys_database(self):
        # Give Animal another type id on "other" than on "default".
        GenericContentType.objects.using("other").filter(model="animal").delete()
        GenericContentType.objects.clear_cache()
        GenericContentType.objects.db_manager("other").get_for_remote("shop_x", "a", "b")
        other_ct = GenericContentType.objects.db_manager("other").get_for_model(Animal)
        self.assertNotEqual(other_ct.pk, GenericContentType.objects.get_for_model(Animal).pk)
        dodo = Animal.objects.using("other").create(common_name="Dodo")
        tag = dodo.tags.create(tag="extinct")
        self.assertEqual(tag.content_type_id, other_ct.pk)
        self.assertEqual(list(Animal.objects.using("other").filter(tags__tag="extinct")), [dodo])
        self.assertEqual(list(Animal.objects.using("other").exclude(tags__tag="extinct")), [])
        self.assertEqual(list(TaggedItem.objects.using("other").filter(animal=dodo)), [tag])
        (prefetched,) = Animal.objects.using("other").prefetch_related("tags")
        self.assertEqual(list(prefetched.tags.all()), [tag])

    def test_deletion_cascades_on_the_same_database(self):
        lion = Animal.objects.create(common_name="Lion")
        TaggedItem.objects.create(tag="x", content_object=lion)
        dodo = Animal.objects.using("other").create(pk=lion.pk, common_name="Dodo")
        TaggedItem.objects.using("other").create(tag="x", content_object=dodo)
        dodo.delete()
        self.assertEqual(TaggedItem.objects.using("other").count(), 0)
        self.assertEqual(TaggedItem.objects.using("default").count(), 1)


class CrossDatabaseProtectionTests(TestCase):
    databases = {"default", "other"}

    def test_assigning_an_object_of_another_database_raises(self):
        lion = Animal.objects.create(common_name="Lion")
        tag = TaggedItem.objects.create(tag="x", content_object=lion)
        dodo = Animal.objects.using("other").create(common_name="Dodo")
        other_ct = GenericContentType.objects.db_manager("other").get_for_model(Animal)
        msg = (
            f'Cannot assign "{other_ct!r}": the current database router prevents this '
            "relation."
        )
        with self.assertRaisesMessage(ValueError, msg):
            tag.content_object = dodo

    def test_adding_a_row_of_another_database_raises(self):
        lion = Animal.objects.create(common_name="Lion")
        tag = TaggedItem.objects.create(tag="x", content_object=lion)
        dodo = Animal.objects.using("other").create(common_name="Dodo")
        msg = "<TaggedItem: x> instance isn't saved. Use bulk=False or save the object first."
        with self.assertRaisesMessage(ValueError, msg), transaction.atomic(using="other"):
            dodo.tags.add(tag)

    def test_unsaved_row_takes_the_targets_database(self):
        dodo = Animal.objects.using("other").create(common_name="Dodo")
        tag = TaggedItem(tag="new")
        self.assertIsNone(tag._state.db)
        tag.content_object = dodo
        self.assertEqual(tag._state.db, "other")
        tag.save()
        self.assertEqual(
            list(TaggedItem.objects.using("other").values_list("tag", flat=True)), ["new"]
        )
        self.assertFalse(TaggedItem.objects.using("default").exists())


@override_settings(DATABASE_ROUTERS=[TestRouter()])
class RouterTests(TestCase):
    databases = {"default", "other"}

    def test_router_decides_where_types_and_rows_go(self):
        dodo = Animal.objects.create(common_name="Dodo")
        self.assertEqual(dodo._state.db, "other")
        tag = TaggedItem.objects.create(tag="x", content_object=dodo)
        self.assertEqual(tag._state.db, "other")
        self.assertEqual(tag.content_type._state.db, "other")
        self.assertEqual(TaggedItem.objects.get(pk=tag.pk).content_object, dodo)

    def test_cross_database_assignment_allowed_by_the_router(self):
        lion = Animal.objects.using("default").create(common_name="Lion")
        tag = TaggedItem.objects.create(tag="x", content_object=Animal.objects.create())
        # allow_relation() says yes: no error, and the type comes from lion's database.
        tag.content_object = lion
        self.assertEqual(tag.content_type._state.db, "default")
        self.assertIs(tag.content_object, lion)

    def test_reverse_manager_follows_the_router(self):
        dodo = Animal.objects.create(common_name="Dodo")
        created = dodo.tags.create(tag="x")
        self.assertEqual(created._state.db, "other")
        self.assertEqual(list(dodo.tags.all()), [created])
        self.assertEqual(dodo.tags.all().db, "other")
