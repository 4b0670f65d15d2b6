"""``FederatedRelation``: what Django's ``generic_relations`` tests ask of ``GenericRelation``.

Every test that can see a remote row has one: a row whose type is a peer's type of the
same model, pointing at the *same pk* as a local object. It must never show up locally.
"""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericRelation
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.test import TestCase

from federated_relations.fields import FederatedRelation
from federated_relations.models import GenericContentType
from tests.testapp.models import (
    Animal,
    BigBook,
    Comparison,
    ConcreteRelatedModel,
    ForProxyModelModel,
    IntBook,
    IntegerTaggedItem,
    Place,
    ProxyRelatedModel,
    Restaurant,
    SlugBook,
    TaggedItem,
    UUIDBook,
    ValuableTaggedItem,
    Vegetable,
)


class FieldTests(TestCase):
    def test_is_a_generic_relation(self):
        field = Animal._meta.get_field("tags")
        self.assertIsInstance(field, FederatedRelation)
        self.assertIsInstance(field, GenericRelation)

    def test_meta_flags(self):
        field = Animal._meta.get_field("tags")
        self.assertIs(field.is_relation, True)
        self.assertIs(field.one_to_many, True)
        self.assertIs(field.many_to_many, False)
        self.assertIs(field.concrete, False)
        self.assertIs(field.related_model, TaggedItem)
        self.assertEqual(field.remote_field.related_query_name, "animal")
        self.assertIn(field, Animal._meta.private_fields)

    def test_related_query_name_defaults_to_none(self):
        rel = Vegetable._meta.get_field("tags").remote_field
        self.assertIsNone(rel.related_query_name)
        self.assertEqual(rel.related_name, "+")

    def test_value_to_string(self):
        lion = Animal.objects.create(common_name="Lion")
        tag = lion.tags.create(tag="x")
        self.assertEqual(Animal._meta.get_field("tags").value_to_string(lion), f"[{tag.pk}]")

    def test_deconstruct(self):
        field = Animal._meta.get_field("tags")
        _name, path, args, kwargs = field.deconstruct()
        self.assertEqual(path, "federated_relations.fields.FederatedRelation")
        self.assertEqual(kwargs["to"], "testapp.taggeditem")


class ColliderMixin:
    """Fixtures with a local object and a peer's row pointing at the same pk."""

    @classmethod
    def setUpTestData(cls):
        cls.lion = Animal.objects.create(pk=100, common_name="Lion", latin_name="Panthera leo")
        cls.tiger = Animal.objects.create(pk=101, common_name="Tiger", latin_name="P. tigris")
        cls.animal_ct = GenericContentType.objects.get_for_model(Animal)
        cls.remote_ct = GenericContentType.objects.get_for_remote("shop_b", "testapp", "animal")
        cls.local_tag = TaggedItem.objects.create(tag="local", content_object=cls.lion)
        cls.remote_tag = TaggedItem.objects.create(
            tag="remote", content_type=cls.remote_ct, object_id="100"
        )
        # A non-numeric remote id in the same table: must not break integer joins.
        cls.odd_tag = TaggedItem.objects.create(
            tag="odd", content_type=cls.remote_ct, object_id="not-a-number"
        )


class ReverseManagerTests(ColliderMixin, TestCase):
    def test_all_ignores_remote_rows_with_the_same_pk(self):
        self.assertEqual(list(self.lion.tags.all()), [self.local_tag])
        self.assertEqual(self.lion.tags.count(), 1)
        self.assertEqual(list(self.tiger.tags.all()), [])

    def test_create(self):
        tag = self.tiger.tags.create(tag="striped")
        self.assertEqual(tag.content_type, self.animal_ct)
        self.assertEqual(tag.object_id, 101)
        self.assertEqual(TaggedItem.objects.get(pk=tag.pk).content_object, self.tiger)

    def test_get_or_create(self):
        tag, created = self.lion.tags.get_or_create(tag="local")
        self.assertFalse(created)
        self.assertEqual(tag, self.local_tag)
        # "remote" exists with object id "100", but for another project.
        tag, created = self.lion.tags.get_or_create(tag="remote")
        self.assertTrue(created)
        self.assertEqual(tag.content_type, self.animal_ct)
        self.assertEqual(self.lion.tags.count(), 2)

    def test_update_or_create(self):
        tag, created = self.lion.tags.update_or_create(tag="local", defaults={"tag": "shiny"})
        self.assertFalse(created)
        self.assertEqual(tag.pk, self.local_tag.pk)
        self.assertEqual(TaggedItem.objects.get(pk=tag.pk).tag, "shiny")
        tag, created = self.tiger.tags.update_or_create(tag="new", defaults={"tag": "newer"})
        self.assertTrue(created)
        self.assertEqual(tag.content_object, self.tiger)
        self.assertEqual(TaggedItem.objects.get(tag="remote").content_type, self.remote_ct)

    def test_update_or_create_create_defaults(self):
        tag, created = self.tiger.tags.update_or_create(
            tag="x", defaults={"tag": "updated"}, create_defaults={"tag": "created"}
        )
        self.assertTrue(created)
        self.assertEqual(tag.tag, "created")

    def test_add_bulk(self):
        tag = TaggedItem.objects.create(tag="moved", content_object=self.tiger)
        with self.assertNumQueries(1):
            self.lion.tags.add(tag)
        tag.refresh_from_db()
        self.assertEqual(tag.content_object, self.lion)
        self.assertEqual(set(self.lion.tags.all()), {self.local_tag, tag})

    def test_add_bulk_adopts_a_remote_row(self):
        self.tiger.tags.add(self.remote_tag)
        self.remote_tag.refresh_from_db()
        self.assertEqual(self.remote_tag.content_type, self.animal_ct)
        self.assertEqual(list(self.tiger.tags.all()), [self.remote_tag])

    def test_add_rejects_unsaved_objects(self):
        msg = (
            "<TaggedItem: unsaved> instance isn't saved. Use bulk=False or save the object "
            "first."
        )
        with self.assertRaisesMessage(ValueError, msg):
            self.lion.tags.add(TaggedItem(tag="unsaved"))
        self.assertEqual(self.lion.tags.count(), 1)

    def test_add_bulk_false_saves_unsaved_objects(self):
        tag = TaggedItem(tag="unsaved")
        self.lion.tags.add(tag, bulk=False)
        self.assertIsNotNone(tag.pk)
        self.assertEqual(set(self.lion.tags.all()), {self.local_tag, tag})

    def test_add_rejects_wrong_instances(self):
        with self.assertRaisesMessage(TypeError, "'TaggedItem' instance expected, got <Animal:"):
            self.lion.tags.add(self.tiger)

    def test_remove(self):
        self.lion.tags.remove(self.local_tag)
        self.assertEqual(self.lion.tags.count(), 0)
        self.assertFalse(TaggedItem.objects.filter(pk=self.local_tag.pk).exists())
        self.assertTrue(TaggedItem.objects.filter(pk=self.remote_tag.pk).exists())

    def test_remove_a_remote_row_does_nothing(self):
        self.lion.tags.remove(self.remote_tag)
        self.assertTrue(TaggedItem.objects.filter(pk=self.remote_tag.pk).exists())

    def test_remove_bulk_false(self):
        self.lion.tags.remove(self.local_tag, bulk=False)
        self.assertEqual(self.lion.tags.count(), 0)
        self.assertEqual(TaggedItem.objects.count(), 2)

    def test_clear(self):
        self.lion.tags.create(tag="second")
        self.lion.tags.clear()
        self.assertEqual(self.lion.tags.count(), 0)
        self.assertEqual(set(TaggedItem.objects.all()), {self.remote_tag, self.odd_tag})

    def test_clear_bulk_false(self):
        self.lion.tags.clear(bulk=False)
        self.assertEqual(set(TaggedItem.objects.all()), {self.remote_tag, self.odd_tag})

    def test_set(self):
        second = TaggedItem.objects.create(tag="second", content_object=self.tiger)
        third = TaggedItem.objects.create(tag="third", content_object=self.tiger)
        self.lion.tags.set([second, third])
        self.assertEqual(set(self.lion.tags.all()), {second, third})
        self.assertFalse(TaggedItem.objects.filter(pk=self.local_tag.pk).exists())
        self.lion.tags.set([third])
        self.assertEqual(list(self.lion.tags.all()), [third])
        fourth = TaggedItem.objects.create(tag="fourth", content_object=self.tiger)
        self.lion.tags.set([fourth], clear=True)
        self.assertEqual(list(self.lion.tags.all()), [fourth])
        self.assertFalse(TaggedItem.objects.filter(pk=third.pk).exists())
        self.lion.tags.set([])
        self.assertEqual(self.lion.tags.count(), 0)
        self.assertTrue(TaggedItem.objects.filter(pk=self.remote_tag.pk).exists())

    def test_set_bulk_false_with_unsaved_objects(self):
        tag = TaggedItem(tag="unsaved")
        self.lion.tags.set([tag], bulk=False, clear=True)
        self.assertEqual(list(self.lion.tags.all()), [tag])

    def test_set_with_a_queryset(self):
        second = TaggedItem.objects.create(tag="second", content_object=self.tiger)
        self.lion.tags.set(TaggedItem.objects.filter(pk=second.pk))
        self.assertEqual(list(self.lion.tags.all()), [second])

    def test_assigning_directly_is_prohibited(self):
        msg = "Direct assignment to the reverse side of a related set is prohibited."
        with self.assertRaisesMessage(TypeError, msg):
            self.lion.tags = [self.local_tag]

    def test_custom_manager_call(self):
        self.assertEqual(list(self.lion.tags(manager="objects").all()), [self.local_tag])

    def test_filter_on_the_manager(self):
        self.lion.tags.create(tag="zz")
        self.assertEqual(
            list(self.lion.tags.filter(tag__startswith="l").values_list("tag", flat=True)),
            ["local"],
        )

    def test_subclass_rows_through_parent_relation(self):
        valuable = ValuableTaggedItem.objects.create(tag="gold", value=1, content_object=self.lion)
        self.assertEqual(set(self.lion.tags.all()), {self.local_tag, valuable.taggeditem_ptr})


class QueryTests(ColliderMixin, TestCase):
    def test_filter_through_the_relation(self):
        self.assertEqual(list(Animal.objects.filter(tags__tag="local")), [self.lion])
        self.assertEqual(list(Animal.objects.filter(tags__tag="remote")), [])
        self.assertEqual(list(Animal.objects.filter(tags__tag="odd")), [])

    def test_filter_through_related_query_name(self):
        self.assertEqual(list(TaggedItem.objects.filter(animal=self.lion)), [self.local_tag])
        self.assertEqual(
            list(TaggedItem.objects.filter(animal__common_name="Lion")), [self.local_tag]
        )
        self.assertEqual(list(TaggedItem.objects.filter(animal__pk=100)), [self.local_tag])
        self.assertEqual(
            list(TaggedItem.objects.filter(animal__in=[self.lion, self.tiger])), [self.local_tag]
        )

    def test_isnull_through_related_query_name(self):
        self.assertEqual(
            set(TaggedItem.objects.filter(animal__isnull=True)), {self.remote_tag, self.odd_tag}
        )
        self.assertEqual(list(TaggedItem.objects.filter(animal__isnull=False)), [self.local_tag])

    def test_isnull_through_the_relation(self):
        self.assertEqual(list(Animal.objects.filter(tags__isnull=True)), [self.tiger])
        self.assertEqual(list(Animal.objects.filter(tags__isnull=False)), [self.lion])

    def test_exclude_through_the_relation(self):
        self.assertEqual(list(Animal.objects.exclude(tags__tag="local")), [self.tiger])
        self.assertEqual(
            list(Animal.objects.exclude(tags__tag="remote").order_by("pk")),
            [self.lion, self.tiger],
        )

    def test_exclude_through_related_query_name(self):
        self.assertEqual(
            set(TaggedItem.objects.exclude(animal__common_name="Lion")),
            {self.remote_tag, self.odd_tag},
        )

    def test_q_objects_across_the_relation(self):
        self.assertEqual(
            list(Animal.objects.filter(Q(tags__tag="local") | Q(tags__tag="remote")).distinct()),
            [self.lion],
        )
        self.assertEqual(
            list(Animal.objects.filter(~Q(tags__tag="remote"), pk=100)), [self.lion]
        )

    def test_exists_subquery(self):
        matching = TaggedItem.objects.filter(animal=OuterRef("pk"))
        self.assertEqual(list(Animal.objects.filter(Exists(matching))), [self.lion])

    def test_values_through_the_relation(self):
        self.assertEqual(
            list(Animal.objects.filter(pk=100).values_list("tags__tag", flat=True)), ["local"]
        )
        self.assertEqual(
            list(TaggedItem.objects.order_by("tag").values_list("animal__common_name", flat=True)),
            ["Lion", None, None],
        )

    def test_count_annotation_ignores_remote_rows(self):
        self.lion.tags.create(tag="second")
        counts = dict(Animal.objects.annotate(n=Count("tags")).values_list("common_name", "n"))
        self.assertEqual(counts, {"Lion": 2, "Tiger": 0})

    def test_aggregate(self):
        self.lion.tags.create(tag="second")
        self.assertEqual(Animal.objects.aggregate(n=Count("tags")), {"n": 2})

    def test_annotation_filter(self):
        self.assertEqual(
            list(Animal.objects.annotate(n=Count("tags")).filter(n__gt=0)), [self.lion]
        )

    def test_ordering_by_the_relation(self):
        self.tiger.tags.create(tag="aaa")
        self.assertEqual(
            list(Animal.objects.filter(tags__isnull=False).order_by("tags__tag")),
            [self.tiger, self.lion],
        )

    def test_two_relations_to_one_model(self):
        comparison = Comparison.objects.create(comparative="x", first_obj=self.lion)
        Comparison.objects.create(
            comparative="y",
            content_type1=self.remote_ct,
            object_id1="100",
        )
        self.assertEqual(list(self.lion.comparisons.all()), [comparison])
        self.assertEqual(
            list(Animal.objects.filter(comparisons__comparative="y")), []
        )

    def test_relation_on_a_model_with_a_subclassed_target(self):
        ValuableTaggedItem.objects.create(tag="gold", value=10, content_object=self.tiger)
        self.assertEqual(
            list(Animal.objects.filter(tags__valuabletaggeditem__value=10)), [self.tiger]
        )


class PrefetchTests(ColliderMixin, TestCase):
    def test_prefetch_reverse_relation(self):
        self.tiger.tags.create(tag="striped")
        with self.assertNumQueries(2):
            animals = list(Animal.objects.order_by("pk").prefetch_related("tags"))
            self.assertEqual([a.tags.all()[0].tag for a in animals], ["local", "striped"])
            self.assertEqual([len(a.tags.all()) for a in animals], [1, 1])

    def test_prefetch_reverse_relation_custom_queryset(self):
        from django.db.models import Prefetch

        self.lion.tags.create(tag="zz")
        animals = Animal.objects.prefetch_related(
            Prefetch("tags", TaggedItem.objects.order_by("-tag"), to_attr="ordered")
        ).order_by("pk")
        self.assertEqual([t.tag for t in animals[0].ordered], ["zz", "local"])
        self.assertEqual(animals[1].ordered, [])

    def test_clear_after_prefetch(self):
        lion = Animal.objects.prefetch_related("tags").get(pk=100)
        self.assertEqual(list(lion.tags.all()), [self.local_tag])
        lion.tags.clear()
        self.assertEqual(list(lion.tags.all()), [])

    def test_add_after_prefetch(self):
        lion = Animal.objects.prefetch_related("tags").get(pk=100)
        tag = TaggedItem.objects.create(tag="x", content_object=self.tiger)
        lion.tags.add(tag)
        self.assertEqual(set(lion.tags.all()), {self.local_tag, tag})

    def test_create_after_prefetch(self):
        lion = Animal.objects.prefetch_related("tags").get(pk=100)
        tag = lion.tags.create(tag="new")
        self.assertEqual(set(lion.tags.all()), {self.local_tag, tag})

    def test_remove_after_prefetch(self):
        lion = Animal.objects.prefetch_related("tags").get(pk=100)
        lion.tags.remove(self.local_tag)
        self.assertEqual(list(lion.tags.all()), [])

    def test_set_after_prefetch(self):
        lion = Animal.objects.prefetch_related("tags").get(pk=100)
        tag = TaggedItem.objects.create(tag="x", content_object=self.tiger)
        lion.tags.set([tag])
        self.assertEqual(list(lion.tags.all()), [tag])

    def test_prefetch_from_the_tag_side_through_related_query_name(self):
        # Not a GenericRelation feature: the reverse of related_query_name is a filter only.
        self.assertEqual(
            list(TaggedItem.objects.filter(animal__tags__tag="local").distinct()),
            [self.local_tag],
        )


class DeletionTests(ColliderMixin, TestCase):
    def test_cascade_deletes_local_rows_only(self):
        IntegerTaggedItem.objects.create(tag="int", content_type=self.remote_ct, object_id=100)
        second = self.lion.tags.create(tag="second")
        self.lion.delete()
        self.assertFalse(TaggedItem.objects.filter(pk__in=[self.local_tag.pk, second.pk]).exists())
        self.assertTrue(TaggedItem.objects.filter(pk=self.remote_tag.pk).exists())
        self.assertTrue(TaggedItem.objects.filter(pk=self.odd_tag.pk).exists())

    def test_queryset_delete_cascades(self):
        self.tiger.tags.create(tag="striped")
        deleted, by_model = Animal.objects.all().delete()
        self.assertEqual(by_model, {"testapp.Animal": 2, "testapp.TaggedItem": 2})
        self.assertEqual(set(TaggedItem.objects.all()), {self.remote_tag, self.odd_tag})

    def test_bulk_related_objects(self):
        field = Animal._meta.get_field("tags")
        self.tiger.tags.create(tag="striped")
        self.assertEqual(
            set(field.bulk_related_objects([self.lion, self.tiger])),
            set(TaggedItem.objects.filter(tag__in=["local", "striped"])),
        )
        self.assertEqual(list(field.bulk_related_objects([self.lion])), [self.local_tag])

    def test_deleting_a_tag_leaves_the_target(self):
        self.local_tag.delete()
        self.assertTrue(Animal.objects.filter(pk=100).exists())

    def test_deleting_with_subclass_rows(self):
        ValuableTaggedItem.objects.create(tag="gold", value=1, content_object=self.lion)
        self.lion.delete()
        self.assertFalse(ValuableTaggedItem.objects.exists())
        self.assertEqual(set(TaggedItem.objects.all()), {self.remote_tag, self.odd_tag})

    def test_delete_the_content_type_cascades_its_rows(self):
        self.remote_ct.delete()
        self.assertEqual(list(TaggedItem.objects.all()), [self.local_tag])


class PkTypeJoinTests(TestCase):
    """Joins of the text object id with int, big-int, UUID and string primary keys."""

    @classmethod
    def setUpTestData(cls):
        cls.int_book = IntBook.objects.create(id=7, title="int")
        cls.uuid_book = UUIDBook.objects.create(title="uuid")
        cls.slug_book = SlugBook.objects.create(slug="7", title="slug")
        cls.big_book = BigBook.objects.create(id=2**40, title="big")
        cls.small_big_book = BigBook.objects.create(id=3, title="small")
        cls.tags = {
            "int": cls.int_book.tags.create(tag="int"),
            "uuid": cls.uuid_book.tags.create(tag="uuid"),
            "slug": cls.slug_book.tags.create(tag="slug"),
            "big": cls.big_book.tags.create(tag="big"),
        }
        cls.int_column_tag = cls.small_big_book.int_tags.create(tag="small")
        remote = GenericContentType.objects.get_for_remote("shop_b", "testapp", "intbook")
        # Rows the typed joins must step over: odd ids, a colliding id, a remote UUID.
        for object_id in ("x-1", "7", str(cls.uuid_book.pk), "", "1e3"):
            TaggedItem.objects.create(tag="remote", content_type=remote, object_id=object_id)

    def test_filter_from_the_target(self):
        self.assertEqual(list(IntBook.objects.filter(tags__tag="int")), [self.int_book])
        self.assertEqual(list(UUIDBook.objects.filter(tags__tag="uuid")), [self.uuid_book])
        self.assertEqual(list(SlugBook.objects.filter(tags__tag="slug")), [self.slug_book])
        self.assertEqual(list(BigBook.objects.filter(tags__tag="big")), [self.big_book])
        self.assertEqual(
            list(BigBook.objects.filter(int_tags__tag="small")), [self.small_big_book]
        )
        for model in (IntBook, UUIDBook, SlugBook, BigBook):
            self.assertEqual(list(model.objects.filter(tags__tag="remote")), [])

    def test_filter_from_the_tag(self):
        self.assertEqual(
            list(TaggedItem.objects.filter(int_book__title="int")), [self.tags["int"]]
        )
        self.assertEqual(
            list(TaggedItem.objects.filter(uuid_book=self.uuid_book)), [self.tags["uuid"]]
        )
        self.assertEqual(
            list(TaggedItem.objects.filter(uuid_book__pk=self.uuid_book.pk)), [self.tags["uuid"]]
        )
        self.assertEqual(
            list(TaggedItem.objects.filter(slug_book__title="slug")), [self.tags["slug"]]
        )
        self.assertEqual(
            list(TaggedItem.objects.filter(slug_book=self.slug_book)), [self.tags["slug"]]
        )
        self.assertEqual(
            list(TaggedItem.objects.filter(uuid_book__in=[self.uuid_book])), [self.tags["uuid"]]
        )
        self.assertEqual(
            list(TaggedItem.objects.filter(uuid_book__in=UUIDBook.objects.all())),
            [self.tags["uuid"]],
        )
        self.assertEqual(
            list(TaggedItem.objects.filter(slug_book__in=[self.slug_book.pk])),
            [self.tags["slug"]],
        )
        self.assertEqual(
            list(TaggedItem.objects.filter(big_book__title="big")), [self.tags["big"]]
        )
        self.assertEqual(
            list(IntegerTaggedItem.objects.filter(big_book_int__title="small")),
            [self.int_column_tag],
        )

    def test_filter_the_target_by_a_referencing_row(self):
        # GenericRelation prepares these values with the wrong pk field (int(uuid)).
        self.assertEqual(
            list(UUIDBook.objects.filter(tags=self.tags["uuid"])), [self.uuid_book]
        )
        self.assertEqual(
            list(SlugBook.objects.filter(tags__in=[self.tags["slug"], self.tags["int"]])),
            [self.slug_book],
        )
        self.assertEqual(list(IntBook.objects.filter(tags=self.tags["uuid"])), [])
        self.assertEqual(
            list(UUIDBook.objects.filter(tags__in=TaggedItem.objects.filter(tag="uuid"))),
            [self.uuid_book],
        )

    def test_unsaved_instance_in_a_relation_filter_raises(self):
        msg = "Model instances passed to related filters must be saved."
        with self.assertRaisesMessage(ValueError, msg):
            TaggedItem.objects.filter(int_book=IntBook(title="unsaved"))

    def test_exclude_both_ways(self):
        self.assertEqual(list(IntBook.objects.exclude(tags__tag="int")), [])
        self.assertEqual(list(UUIDBook.objects.exclude(tags__tag="remote")), [self.uuid_book])
        self.assertEqual(list(SlugBook.objects.exclude(tags__tag="remote")), [self.slug_book])
        self.assertEqual(
            TaggedItem.objects.exclude(uuid_book__title="uuid").count(),
            TaggedItem.objects.count() - 1,
        )
        self.assertEqual(
            TaggedItem.objects.exclude(int_book__title="int").count(),
            TaggedItem.objects.count() - 1,
        )

    def test_annotate_count(self):
        for model in (IntBook, UUIDBook, SlugBook):
            self.assertEqual(model.objects.annotate(n=Count("tags")).get().n, 1)
        self.assertEqual(
            dict(BigBook.objects.annotate(n=Count("tags")).values_list("title", "n")),
            {"big": 1, "small": 0},
        )

    def test_prefetch_both_ways(self):
        for model, name in ((IntBook, "int"), (UUIDBook, "uuid"), (SlugBook, "slug")):
            with self.assertNumQueries(2):
                (book,) = model.objects.prefetch_related("tags")
                self.assertEqual(list(book.tags.all()), [self.tags[name]])
        with self.assertNumQueries(2):
            books = BigBook.objects.order_by("pk").prefetch_related("int_tags")
            self.assertEqual([list(b.int_tags.all()) for b in books], [[self.int_column_tag], []])
        items = TaggedItem.objects.exclude(tag="remote").prefetch_related("content_object")
        self.assertEqual(
            {item.tag: item.content_object for item in items},
            {
                "int": self.int_book,
                "uuid": self.uuid_book,
                "slug": self.slug_book,
                "big": self.big_book,
            },
        )

    def test_reverse_managers(self):
        self.assertEqual(list(self.int_book.tags.all()), [self.tags["int"]])
        self.assertEqual(list(self.uuid_book.tags.all()), [self.tags["uuid"]])
        self.assertEqual(list(self.slug_book.tags.all()), [self.tags["slug"]])
        self.assertEqual(list(self.big_book.tags.all()), [self.tags["big"]])
        self.assertEqual(list(self.small_big_book.int_tags.all()), [self.int_column_tag])

    def test_cascade(self):
        self.uuid_book.delete()
        self.int_book.delete()
        self.big_book.delete()
        self.assertEqual(TaggedItem.objects.filter(tag="remote").count(), 5)
        self.assertEqual(set(TaggedItem.objects.exclude(tag="remote")), {self.tags["slug"]})


class ProxyRelationTests(TestCase):
    """``for_concrete_model=False`` on a relation, after Django's ``ProxyRelatedModelTest``."""

    def test_proxy_and_concrete_are_told_apart(self):
        base = ConcreteRelatedModel.objects.create()
        proxy = ProxyRelatedModel.objects.get(pk=base.pk)
        to_base = ForProxyModelModel.objects.create(obj=base, title="base")
        to_proxy = ForProxyModelModel.objects.create(obj=proxy, title="proxy")
        self.assertEqual(list(base.bases.all()), [to_base])
        self.assertEqual(list(proxy.bases.all()), [to_proxy])
        self.assertEqual(
            list(ConcreteRelatedModel.objects.filter(bases__title="base")), [base]
        )
        self.assertEqual(list(ProxyRelatedModel.objects.filter(bases__title="proxy")), [proxy])
        self.assertEqual(list(ProxyRelatedModel.objects.filter(bases__title="base")), [])

    def test_create_through_proxy(self):
        proxy = ProxyRelatedModel.objects.create()
        item = proxy.bases.create(title="x")
        self.assertEqual(
            item.content_type,
            GenericContentType.objects.get_for_model(ProxyRelatedModel, for_concrete_model=False),
        )


class IntegrityTests(TestCase):
    def test_content_type_is_required(self):
        with self.assertRaises(IntegrityError), transaction.atomic():
            TaggedItem.objects.create(tag="x", object_id="1", content_type_id=None)


class InheritanceTests(TestCase):
    """A relation declared on a multi-table parent (Django's Place/Restaurant tests)."""

    def test_parent_and_child_use_their_own_types(self):
        place = Place.objects.create(name="Square")
        restaurant = Restaurant.objects.create(name="Pizzeria")
        place_tag = place.tags.create(tag="open")
        restaurant_tag = restaurant.tags.create(tag="tasty")
        self.assertEqual(place_tag.content_type, GenericContentType.objects.get_for_model(Place))
        self.assertEqual(
            restaurant_tag.content_type, GenericContentType.objects.get_for_model(Restaurant)
        )
        self.assertEqual(list(restaurant.tags.all()), [restaurant_tag])
        # The restaurant's parent row has the same pk but not the same type.
        self.assertEqual(list(Place.objects.get(pk=restaurant.pk).tags.all()), [])
        self.assertEqual(list(Restaurant.objects.filter(tags__tag="tasty")), [restaurant])
        self.assertEqual(list(Place.objects.filter(tags__tag="open")), [place])
        self.assertEqual(list(TaggedItem.objects.filter(place__name="Square")), [place_tag])
        self.assertEqual(TaggedItem.objects.get(pk=restaurant_tag.pk).content_object, restaurant)

    def test_child_relation_hides_its_reverse_side(self):
        field = Restaurant._meta.get_field("tags")
        self.assertIs(field.mti_inherited, True)
        self.assertIs(field.remote_field.hidden, True)
        self.assertEqual(field.check(), [])
        self.assertEqual(Place._meta.get_field("tags").check(), [])

    def test_deleting_a_child_cascades_its_rows(self):
        restaurant = Restaurant.objects.create(name="Pizzeria")
        restaurant.tags.create(tag="tasty")
        restaurant.delete()
        self.assertFalse(TaggedItem.objects.exists())

