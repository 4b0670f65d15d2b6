"""``prefetch_related`` of a ``FederatedForeignKey`` and ``FederatedPrefetch``.

After the generic parts of Django's ``prefetch_related`` tests and ``GenericPrefetch``.
"""

from __future__ import annotations

from django.contrib.contenttypes.prefetch import GenericPrefetch
from django.db.models import Prefetch
from django.test import TestCase

from federated_relations.models import GenericContentType
from federated_relations.prefetch import FederatedPrefetch
from tests.testapp.models import (
    Animal,
    Mineral,
    NullableTaggedItem,
    SlugBook,
    TaggedItem,
    UUIDBook,
    Vegetable,
)


class PrefetchForeignKeyTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.lion = Animal.objects.create(common_name="Lion", latin_name="Panthera leo")
        cls.tiger = Animal.objects.create(common_name="Tiger", latin_name="Panthera tigris")
        cls.carrot = Vegetable.objects.create(name="Carrot")
        cls.quartz = Mineral.objects.create(name="Quartz", hardness=7)
        for tag, target in (
            ("a", cls.lion),
            ("b", cls.tiger),
            ("c", cls.carrot),
            ("d", cls.quartz),
            ("e", cls.lion),
        ):
            TaggedItem.objects.create(tag=tag, content_object=target)
        cls.expected = [cls.lion, cls.tiger, cls.carrot, cls.quartz, cls.lion]

    def warm_type_cache(self):
        GenericContentType.objects.get_for_models(Animal, Vegetable, Mineral)

    def test_three_types_cost_exactly_four_queries_with_a_warm_cache(self):
        self.warm_type_cache()
        with self.assertNumQueries(4):
            items = list(TaggedItem.objects.order_by("tag").prefetch_related("content_object"))
        with self.assertNumQueries(0):
            self.assertEqual([item.content_object for item in items], self.expected)

    def test_cold_type_cache_costs_at_most_two_plus_k_queries(self):
        GenericContentType.objects.clear_cache()
        self.addCleanup(GenericContentType.objects.clear_cache)
        with self.assertNumQueries(2 + 3):  # items, the three types in one query, 3 models
            items = list(TaggedItem.objects.order_by("tag").prefetch_related("content_object"))
        with self.assertNumQueries(0):
            self.assertEqual([item.content_object for item in items], self.expected)

    def test_four_types_with_a_cold_cache(self):
        book = UUIDBook.objects.create(title="U")
        TaggedItem.objects.create(tag="f", content_object=book)
        GenericContentType.objects.clear_cache()
        self.addCleanup(GenericContentType.objects.clear_cache)
        with self.assertNumQueries(2 + 4):
            items = list(TaggedItem.objects.order_by("tag").prefetch_related("content_object"))
        self.assertEqual([item.content_object for item in items], [*self.expected, book])

    def test_same_target_is_one_instance(self):
        self.warm_type_cache()
        items = list(TaggedItem.objects.filter(tag__in=["a", "e"]).prefetch_related(
            "content_object"
        ))
        self.assertIs(items[0].content_object, items[1].content_object)

    def test_deleted_target_prefetches_none(self):
        self.warm_type_cache()
        quartz_pk = self.quartz.pk
        Mineral.objects.filter(pk=quartz_pk).delete()  # no relation: its tag stays
        with self.assertNumQueries(4):
            items = TaggedItem.objects.order_by("tag").prefetch_related("content_object")
            result = [(item.tag, item.object_id, item.content_object) for item in items]
        self.assertEqual(result[3], ("d", str(quartz_pk), None))
        self.assertEqual([r[2] for r in result], [*self.expected[:3], None, self.lion])

    def test_nullable_foreign_key(self):
        NullableTaggedItem.objects.create(content_object=self.lion)
        NullableTaggedItem.objects.create()
        self.warm_type_cache()
        with self.assertNumQueries(2):
            items = list(NullableTaggedItem.objects.order_by("pk").prefetch_related(
                "content_object"
            ))
            self.assertEqual([i.content_object for i in items], [self.lion, None])

    def test_only_nulls_cost_one_query(self):
        NullableTaggedItem.objects.create()
        with self.assertNumQueries(1):
            (item,) = NullableTaggedItem.objects.prefetch_related("content_object")
            self.assertIsNone(item.content_object)

    def test_string_and_uuid_pks(self):
        slug = SlugBook.objects.create(slug="007", title="S")
        book = UUIDBook.objects.create(title="U")
        TaggedItem.objects.create(tag="slug", content_object=slug)
        TaggedItem.objects.create(tag="uuid", content_object=book)
        items = TaggedItem.objects.filter(tag__in=["slug", "uuid"]).prefetch_related(
            "content_object"
        )
        self.assertEqual({i.tag: i.content_object for i in items}, {"slug": slug, "uuid": book})

    def test_traverse_to_the_targets_relations(self):
        self.warm_type_cache()
        with self.assertNumQueries(3):  # items, animals, the animals' tags
            items = list(TaggedItem.objects.filter(tag__in=["a", "b"]).prefetch_related(
                "content_object__tags"
            ).order_by("tag"))
            tags = [sorted(t.tag for t in i.content_object.tags.all()) for i in items]
        self.assertEqual(tags, [["a", "e"], ["b"]])

    def test_reverse_then_forward(self):
        self.warm_type_cache()
        with self.assertNumQueries(3):
            animals = list(Animal.objects.order_by("pk").prefetch_related("tags__content_object"))
            targets = [[t.content_object for t in a.tags.all()] for a in animals]
        self.assertEqual(targets, [[self.lion, self.lion], [self.tiger]])

    def test_custom_queryset_on_the_reverse_relation(self):
        animals = Animal.objects.order_by("pk").prefetch_related(
            Prefetch("tags", TaggedItem.objects.filter(tag="e"), to_attr="e_tags")
        )
        self.assertEqual([[t.tag for t in a.e_tags] for a in animals], [["e"], []])

    def test_prefetch_on_an_instance_list(self):
        from django.db.models import prefetch_related_objects

        self.warm_type_cache()
        items = list(TaggedItem.objects.order_by("tag"))
        with self.assertNumQueries(3):
            prefetch_related_objects(items, "content_object")
        with self.assertNumQueries(0):
            self.assertEqual([i.content_object for i in items], self.expected)


class FederatedPrefetchTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.lion = Animal.objects.create(common_name="Lion", latin_name="Panthera leo")
        cls.carrot = Vegetable.objects.create(name="Carrot", is_yucky=False)
        cls.quartz = Mineral.objects.create(name="Quartz", hardness=7)
        for target in (cls.lion, cls.carrot, cls.quartz):
            TaggedItem.objects.create(tag=target._meta.model_name, content_object=target)

    def test_is_a_generic_prefetch(self):
        self.assertTrue(issubclass(FederatedPrefetch, GenericPrefetch))

    def test_one_queryset_per_model(self):
        GenericContentType.objects.get_for_models(Animal, Vegetable, Mineral)
        with self.assertNumQueries(4):
            items = list(
                TaggedItem.objects.order_by("tag").prefetch_related(
                    FederatedPrefetch(
                        "content_object",
                        [
                            Animal.objects.only("common_name"),
                            Vegetable.objects.filter(is_yucky=True),  # excludes the carrot
                        ],
                    )
                )
            )
        with self.assertNumQueries(0):
            targets = {i.tag: i.content_object for i in items}
        self.assertEqual(targets, {"animal": self.lion, "vegetable": None, "mineral": self.quartz})
        # The animal came from the custom queryset: latin_name is deferred.
        self.assertEqual(targets["animal"].get_deferred_fields(), {"latin_name"})

    def test_to_attr(self):
        items = TaggedItem.objects.order_by("tag").prefetch_related(
            FederatedPrefetch("content_object", [Animal.objects.all()], to_attr="target")
        )
        self.assertEqual([i.target for i in items], [self.lion, self.quartz, self.carrot])

    def test_two_querysets_for_one_model_raise(self):
        msg = "Only one queryset is allowed for each content type."
        with self.assertRaisesMessage(ValueError, msg):
            list(
                TaggedItem.objects.prefetch_related(
                    FederatedPrefetch(
                        "content_object", [Animal.objects.all(), Animal.objects.filter(pk=1)]
                    )
                )
            )

    def test_a_plain_prefetch_of_the_foreign_key_is_refused(self):
        msg = "Prefetch querysets cannot use raw(), values(), and values_list()."
        with self.assertRaisesMessage(ValueError, msg):
            list(TaggedItem.objects.prefetch_related(
                FederatedPrefetch("content_object", [Animal.objects.values("pk")])
            ))

    def test_pickle(self):
        import pickle

        prefetch = FederatedPrefetch("content_object", [Animal.objects.all()])
        restored = pickle.loads(pickle.dumps(prefetch))
        self.assertEqual(restored.prefetch_to, "content_object")
        items = TaggedItem.objects.prefetch_related(restored).order_by("tag")
        self.assertEqual([i.content_object for i in items], [self.lion, self.quartz, self.carrot])


class PrefetchWorkloadQueryCountTests(TestCase):
    """The benchmark's workload (``benchmarks/ffk_prefetch_benchmark.py``), counted in queries.

    3,000 references with string object ids over 3 local models: one query for the
    references, one per model, plus one for the types when their cache is cold, and no
    query at all to read the 3,000 targets afterwards.
    """

    PER_MODEL = 1000

    @classmethod
    def setUpTestData(cls):
        Animal.objects.bulk_create(
            Animal(common_name=f"a{i}", latin_name="x") for i in range(cls.PER_MODEL)
        )
        Vegetable.objects.bulk_create(Vegetable(name=f"v{i}") for i in range(cls.PER_MODEL))
        Mineral.objects.bulk_create(
            Mineral(name=f"m{i}", hardness=1) for i in range(cls.PER_MODEL)
        )
        types = GenericContentType.objects.get_for_models(Animal, Vegetable, Mineral)
        targets = {model: list(model.objects.order_by("pk")) for model in types}
        cls.expected = {}
        items = []
        for index in range(cls.PER_MODEL):
            for model, objs in targets.items():
                tag = f"{index:04d}-{model._meta.model_name}"
                items.append(TaggedItem(
                    tag=tag, content_type=types[model], object_id=str(objs[index].pk)
                ))
                cls.expected[tag] = objs[index]
        TaggedItem.objects.bulk_create(items)

    def check_targets(self, items):
        self.assertEqual(len(items), 3 * self.PER_MODEL)
        with self.assertNumQueries(0):
            for item in items:
                self.assertEqual(item.content_object, self.expected[item.tag])
                self.assertIs(type(item.content_object), type(self.expected[item.tag]))

    def test_warm_type_cache_costs_one_query_per_model(self):
        GenericContentType.objects.get_for_models(Animal, Vegetable, Mineral)
        with self.assertNumQueries(1 + 3):
            items = list(TaggedItem.objects.prefetch_related("content_object"))
        self.check_targets(items)

    def test_cold_type_cache_adds_one_query_for_the_types(self):
        GenericContentType.objects.clear_cache()
        self.addCleanup(GenericContentType.objects.clear_cache)
        with self.assertNumQueries(1 + 1 + 3):
            items = list(TaggedItem.objects.prefetch_related("content_object"))
        self.check_targets(items)
