"""``FederatedForeignKey``: what Django's ``generic_relations`` tests ask of ``GenericForeignKey``.

Each test is named after the Django test it follows where there is one.
"""

from __future__ import annotations

import pickle
import uuid

import django
from django.contrib.contenttypes.fields import GenericForeignKey
from django.core.exceptions import FieldError
from django.test import TestCase, override_settings

from federated_relations.exceptions import FederationError, PeerUnavailable
from federated_relations.fields import FederatedForeignKey
from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from tests.testapp.models import (
    Animal,
    BigBook,
    Comparison,
    ForConcreteModelModel,
    ForProxyModelModel,
    Guild,
    IntBook,
    IntegerTaggedItem,
    Mineral,
    NullableTaggedItem,
    ProxyMineral,
    SlugBook,
    TaggedItem,
    Team,
    UUIDBook,
    ValuableTaggedItem,
    Vegetable,
)

RAISE = {"PROJECT_NAME": "local_project", "ON_REMOTE_ERROR": "raise"}


class FieldFlagsTests(TestCase):
    def test_is_a_generic_foreign_key(self):
        field = TaggedItem._meta.get_field("content_object")
        self.assertIsInstance(field, FederatedForeignKey)
        self.assertIsInstance(field, GenericForeignKey)

    def test_meta_flags(self):
        field = TaggedItem._meta.get_field("content_object")
        self.assertIs(field.is_relation, True)
        self.assertIs(field.many_to_one, True)
        self.assertIs(field.one_to_many, False)
        self.assertIs(field.many_to_many, False)
        self.assertIs(field.one_to_one, False)
        self.assertIs(field.concrete, False)
        self.assertIs(field.editable, False)
        self.assertIs(field.hidden, False)
        self.assertIsNone(field.related_model)
        self.assertIsNone(field.remote_field)
        self.assertIsNone(field.column)
        self.assertIn(field, TaggedItem._meta.private_fields)
        self.assertNotIn(field, TaggedItem._meta.concrete_fields)
        self.assertEqual(field.ct_field, "content_type")
        self.assertEqual(field.fk_field, "object_id")
        self.assertIs(field.for_concrete_model, True)
        # Its own descriptor, as GenericForeignKey is until Django 6.1 gives it one.
        descriptor = TaggedItem.content_object
        self.assertIs(descriptor if django.VERSION < (6, 1) else descriptor.field, field)

    def test_str(self):
        field = TaggedItem._meta.get_field("content_object")
        self.assertEqual(str(field), "testapp.TaggedItem.content_object")

    def test_field_pickles(self):
        field = TaggedItem._meta.get_field("content_object")
        self.assertIs(pickle.loads(pickle.dumps(field)), field)

    def test_select_related_raises_field_error(self):
        msg = "Invalid field name(s) given in select_related: 'content_object'."
        with self.assertRaisesMessage(FieldError, msg):
            list(TaggedItem.objects.select_related("content_object"))

    def test_values_of_content_object_is_a_field_error(self):
        with self.assertRaises(FieldError):
            list(TaggedItem.objects.values("content_object"))


class AccessTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.lion = Animal.objects.create(common_name="Lion", latin_name="Panthera leo")
        cls.carrot = Vegetable.objects.create(name="Carrot", is_yucky=False)
        cls.quartz = Mineral.objects.create(name="Quartz", hardness=7)

    def test_get(self):
        tag = TaggedItem.objects.create(tag="yellow", content_object=self.lion)
        tag = TaggedItem.objects.get(pk=tag.pk)
        self.assertEqual(tag.content_object, self.lion)
        self.assertEqual(tag.content_type, GenericContentType.objects.get_for_model(Animal))
        self.assertEqual(tag.object_id, str(self.lion.pk))

    def test_create_stores_type_and_canonical_id(self):
        tag = TaggedItem.objects.create(tag="hard", content_object=self.quartz)
        self.assertEqual(tag.content_type.natural_key(), ("local_project", "testapp", "mineral"))
        self.assertEqual(
            TaggedItem.objects.filter(content_type__model="mineral", object_id=self.quartz.pk)
            .get(),
            tag,
        )

    def test_assign_content_object_in_init(self):
        tag = TaggedItem(content_object=self.carrot)
        self.assertIs(tag.content_object, self.carrot)
        self.assertEqual(tag.object_id, self.carrot.pk)  # as given, like GenericForeignKey
        tag.save()
        tag.refresh_from_db()
        self.assertEqual(tag.object_id, str(self.carrot.pk))

    def test_reading_costs_one_query_then_zero(self):
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        tag = TaggedItem.objects.get(pk=tag.pk)
        GenericContentType.objects.get_for_model(Animal)  # warm the type cache
        with self.assertNumQueries(1):
            self.assertEqual(tag.content_object, self.lion)
        with self.assertNumQueries(0):
            self.assertEqual(tag.content_object, self.lion)

    def test_set_to_none(self):
        item = NullableTaggedItem.objects.create(content_object=self.lion)
        item.content_object = None
        self.assertIsNone(item.content_type)
        self.assertIsNone(item.object_id)
        item.save()
        item = NullableTaggedItem.objects.get(pk=item.pk)
        self.assertIsNone(item.content_object)

    def test_none_allowed(self):
        item = NullableTaggedItem.objects.create()
        with self.assertNumQueries(0):
            self.assertIsNone(item.content_object)

    def test_assign_and_save(self):
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        tag.content_object = self.carrot
        tag.save()
        tag = TaggedItem.objects.get(pk=tag.pk)
        self.assertEqual(tag.content_object, self.carrot)

    def test_cache_invalidation_for_content_type_id(self):
        # Django's test_cache_invalidation_for_content_type_id, with a colliding pk.
        cheddar = Vegetable.objects.create(pk=1000, name="Cheddar")
        mouse = Animal.objects.create(pk=1000, common_name="Mouse")
        tag = TaggedItem.objects.create(tag="x", content_object=mouse)
        self.assertEqual(tag.content_object, mouse)
        tag.content_type = GenericContentType.objects.get_for_model(Vegetable)
        self.assertEqual(tag.content_object, cheddar)
        tag.content_type_id = GenericContentType.objects.get_for_model(Animal).pk
        self.assertEqual(tag.content_object, mouse)

    def test_cache_invalidation_for_object_id(self):
        tiger = Animal.objects.create(common_name="Tiger", latin_name="Panthera tigris")
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        self.assertEqual(tag.content_object, self.lion)
        tag.object_id = str(tiger.pk)
        self.assertEqual(tag.content_object, tiger)
        tag.object_id = self.lion.pk  # an int: still the same object as "<pk>"
        with self.assertNumQueries(1):
            self.assertEqual(tag.content_object, self.lion)
        with self.assertNumQueries(0):
            self.assertEqual(tag.content_object, self.lion)

    def test_cache_not_invalidated_by_equal_id_of_another_type(self):
        tag = IntegerTaggedItem.objects.create(tag="x", content_object=self.lion)
        tag.object_id = str(self.lion.pk)  # same id written differently
        with self.assertNumQueries(0):
            self.assertIs(tag.content_object, self.lion)

    def test_deleted_target_reads_none_and_is_cached(self):
        tag = TaggedItem.objects.create(tag="x", content_object=self.quartz)
        pk = self.quartz.pk
        Mineral.objects.filter(pk=pk).delete()
        tag = TaggedItem.objects.get(pk=tag.pk)
        GenericContentType.objects.get_for_model(Mineral)
        with self.assertNumQueries(1):
            self.assertEqual(tag.object_id, str(pk))
            self.assertIsNone(tag.content_object)
            self.assertIsNone(tag.content_object)

    def test_refresh_from_db_clears_cache(self):
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        old = tag.content_object
        tag.refresh_from_db()
        self.assertIsNot(tag.content_object, old)
        self.assertEqual(tag.content_object, old)

    def test_refresh_from_db_with_explicit_fields(self):
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        old = tag.content_object
        tag.refresh_from_db(fields=["content_object"])
        self.assertIsNot(tag.content_object, old)

    def test_refresh_from_db_picks_up_a_changed_target(self):
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        self.assertEqual(tag.content_object, self.lion)
        TaggedItem.objects.filter(pk=tag.pk).update(
            content_type=GenericContentType.objects.get_for_model(Vegetable),
            object_id=str(self.carrot.pk),
        )
        tag.refresh_from_db()
        self.assertEqual(tag.content_object, self.carrot)

    def test_pickling_keeps_the_cached_target(self):
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        self.assertEqual(tag.content_object, self.lion)
        restored = pickle.loads(pickle.dumps(tag))
        with self.assertNumQueries(0):
            self.assertEqual(restored.content_object, self.lion)
        self.assertEqual(restored.content_object.common_name, "Lion")

    def test_pickling_a_queryset_with_prefetched_targets(self):
        TaggedItem.objects.create(tag="x", content_object=self.lion)
        TaggedItem.objects.create(tag="y", content_object=self.carrot)
        qs = TaggedItem.objects.prefetch_related("content_object")
        items = list(qs)
        restored = pickle.loads(pickle.dumps(items))
        with self.assertNumQueries(0):
            self.assertEqual([i.content_object for i in restored], [self.lion, self.carrot])
        self.assertEqual(list(pickle.loads(pickle.dumps(qs))), items)

    def test_get_content_type(self):
        field = TaggedItem._meta.get_field("content_object")
        ct = GenericContentType.objects.get_for_model(Animal)
        self.assertEqual(field.get_content_type(obj=self.lion), ct)
        self.assertEqual(field.get_content_type(id=ct.pk), ct)
        self.assertEqual(field.get_content_type(model=Animal), ct)
        with self.assertRaises(ValueError):
            field.get_content_type()

    def test_get_forward_related_filter(self):
        field = TaggedItem._meta.get_field("content_object")
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        TaggedItem.objects.create(tag="y", content_object=self.carrot)
        lookup = field.get_forward_related_filter(self.lion)
        self.assertEqual(list(TaggedItem.objects.filter(**lookup)), [tag])

    def test_get_filter_kwargs_for_object(self):
        # Django 6 returns content_type_id where 5.2 returns content_type: same rows.
        field = TaggedItem._meta.get_field("content_object")
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        TaggedItem.objects.create(tag="y", content_object=self.carrot)
        kwargs = field.get_filter_kwargs_for_object(tag)
        self.assertEqual(kwargs["object_id"], tag.object_id)
        self.assertEqual(list(TaggedItem.objects.filter(**kwargs)), [tag])

    def test_query_by_type_and_id(self):
        tag = TaggedItem.objects.create(tag="x", content_object=self.lion)
        TaggedItem.objects.create(tag="y", content_object=self.carrot)
        ct = GenericContentType.objects.get_for_model(self.lion)
        self.assertEqual(
            list(TaggedItem.objects.filter(content_type__pk=ct.pk, object_id=self.lion.pk)),
            [tag],
        )

    def test_two_foreign_keys_on_one_model(self):
        comparison = Comparison.objects.create(
            comparative="faster", first_obj=self.lion, other_obj=self.carrot
        )
        comparison = Comparison.objects.get(pk=comparison.pk)
        self.assertEqual(comparison.first_obj, self.lion)
        self.assertEqual(comparison.other_obj, self.carrot)
        self.assertEqual(list(self.lion.comparisons.all()), [comparison])

    def test_foreign_key_on_a_parent_model(self):
        tag = ValuableTaggedItem.objects.create(tag="gold", value=3, content_object=self.quartz)
        self.assertEqual(ValuableTaggedItem.objects.get(pk=tag.pk).content_object, self.quartz)
        self.assertEqual(TaggedItem.objects.get(pk=tag.pk).content_object, self.quartz)


class ObjectIdTypeTests(TestCase):
    """Integer, big-integer, UUID and string primary keys through the object id column."""

    def assertRoundTrip(self, target, item_model=TaggedItem):
        tag = item_model.objects.create(tag="t", content_object=target)
        fetched = item_model.objects.get(pk=tag.pk)
        self.assertEqual(fetched.content_object, target)
        self.assertEqual(type(fetched.content_object.pk), type(target.pk))
        self.assertEqual(
            list(item_model.objects.prefetch_related("content_object")), [fetched]
        )
        self.assertEqual(
            item_model.objects.prefetch_related("content_object").get().content_object,
            target,
        )

    def test_integer_pk(self):
        self.assertRoundTrip(IntBook.objects.create(title="int"))

    def test_big_integer_pk(self):
        self.assertRoundTrip(BigBook.objects.create(id=2**40 + 1, title="big"))

    def test_big_integer_pk_into_integer_column(self):
        self.assertRoundTrip(BigBook.objects.create(title="big"), IntegerTaggedItem)

    def test_uuid_pk(self):
        book = UUIDBook.objects.create(title="uuid")
        self.assertRoundTrip(book)
        self.assertEqual(TaggedItem.objects.get().object_id, str(book.pk))

    def test_uuid_given_as_hex_string(self):
        book = UUIDBook.objects.create(title="uuid")
        tag = TaggedItem.objects.create(
            tag="t",
            content_type=GenericContentType.objects.get_for_model(UUIDBook),
            object_id=str(book.pk),
        )
        self.assertEqual(tag.content_object, book)
        tag.object_id = book.pk.hex  # the same UUID, written without hyphens
        self.assertEqual(tag.content_object, book)

    def test_string_pk(self):
        self.assertRoundTrip(SlugBook.objects.create(slug="the-book", title="slug"))

    def test_string_pk_that_looks_like_an_int(self):
        self.assertRoundTrip(SlugBook.objects.create(slug="0042", title="slug"))

    def test_missing_uuid_target_reads_none(self):
        tag = TaggedItem.objects.create(
            tag="t",
            content_type=GenericContentType.objects.get_for_model(UUIDBook),
            object_id=str(uuid.uuid4()),
        )
        self.assertIsNone(tag.content_object)


class ConcreteAndProxyTests(TestCase):
    """``for_concrete_model``, after Django's ``ProxyRelatedModelTest``."""

    def test_concrete_model_by_default(self):
        proxy = ProxyMineral.objects.create(name="Flint", hardness=7)
        item = ForConcreteModelModel.objects.create(obj=proxy)
        self.assertEqual(item.content_type, GenericContentType.objects.get_for_model(Mineral))
        item = ForConcreteModelModel.objects.get(pk=item.pk)
        self.assertIs(type(item.obj), Mineral)
        self.assertEqual(item.obj.pk, proxy.pk)

    def test_proxy_model_with_for_concrete_model_false(self):
        proxy = ProxyMineral.objects.create(name="Flint", hardness=7)
        item = ForProxyModelModel.objects.create(obj=proxy)
        ct = GenericContentType.objects.get_for_model(ProxyMineral, for_concrete_model=False)
        self.assertEqual(item.content_type, ct)
        self.assertEqual(ct.model, "proxymineral")
        item = ForProxyModelModel.objects.get(pk=item.pk)
        self.assertIs(type(item.obj), ProxyMineral)

    def test_concrete_target_with_for_concrete_model_false(self):
        mineral = Mineral.objects.create(name="Flint", hardness=7)
        item = ForProxyModelModel.objects.create(obj=mineral)
        item = ForProxyModelModel.objects.get(pk=item.pk)
        self.assertIs(type(item.obj), Mineral)

    def test_prefetch_keeps_proxy_classes(self):
        proxy = ProxyMineral.objects.create(name="Flint", hardness=7)
        mineral = Mineral.objects.create(name="Talc", hardness=1)
        ForProxyModelModel.objects.create(obj=proxy)
        ForProxyModelModel.objects.create(obj=mineral)
        items = ForProxyModelModel.objects.order_by("pk").prefetch_related("obj")
        self.assertEqual([type(i.obj) for i in items], [ProxyMineral, Mineral])


class TruthinessTests(TestCase):
    """No truthiness checks on targets (Django's test_target_model_bool_false/len_zero)."""

    def test_falsy_bool_target(self):
        guild = Guild.objects.create(name="Guild")
        tag = TaggedItem.objects.create(tag="g", content_object=guild)
        self.assertIs(tag.content_object, guild)
        tag = TaggedItem.objects.get(pk=tag.pk)
        self.assertEqual(tag.content_object, guild)
        with self.assertNumQueries(0):
            self.assertEqual(tag.content_object, guild)  # cached although falsy
        self.assertEqual(
            TaggedItem.objects.prefetch_related("content_object").get().content_object, guild
        )
        self.assertEqual(list(guild.tags.all()), [tag])

    def test_zero_len_target(self):
        team = Team.objects.create(name="Team")
        tag = TaggedItem.objects.create(tag="t", content_object=team)
        tag = TaggedItem.objects.get(pk=tag.pk)
        self.assertEqual(tag.content_object, team)
        with self.assertNumQueries(0):
            self.assertEqual(tag.content_object, team)
        team.tags.create(tag="u")
        self.assertEqual(team.tags.count(), 2)

    def test_switching_between_falsy_targets_invalidates_cache(self):
        guild = Guild.objects.create(name="Guild")
        other = Guild.objects.create(name="Other")
        tag = TaggedItem.objects.create(tag="g", content_object=guild)
        tag.object_id = str(other.pk)
        self.assertEqual(tag.content_object, other)


class UnsavedTargetTests(TestCase):
    def test_save_with_unsaved_target_raises(self):
        tag = TaggedItem(tag="x", content_object=Animal(common_name="Unsaved"))
        msg = (
            "save() prohibited to prevent data loss due to unsaved related object "
            "'content_object'."
        )
        with self.assertRaisesMessage(ValueError, msg):
            tag.save()

    def test_create_with_unsaved_target_raises(self):
        msg = (
            "save() prohibited to prevent data loss due to unsaved related object "
            "'content_object'."
        )
        with self.assertRaisesMessage(ValueError, msg):
            TaggedItem.objects.create(tag="x", content_object=Animal(common_name="Unsaved"))
        self.assertFalse(TaggedItem.objects.exists())

    def test_bulk_create_with_unsaved_target_raises(self):
        msg = (
            "bulk_create() prohibited to prevent data loss due to unsaved related object "
            "'content_object'."
        )
        with self.assertRaisesMessage(ValueError, msg):
            TaggedItem.objects.bulk_create(
                [TaggedItem(tag="x", content_object=Animal(common_name="Unsaved"))]
            )

    def test_target_saved_after_assignment_still_raises_until_reassigned(self):
        # As with GenericForeignKey, the object id was read at assignment (None).
        lion = Animal(common_name="Lion")
        tag = TaggedItem(tag="x", content_object=lion)
        lion.save()
        self.assertIsNone(tag.object_id)
        tag.content_object = lion
        tag.save()
        self.assertEqual(TaggedItem.objects.get().content_object, lion)


@override_settings(FEDERATION=RAISE)
class RemoteTypeTests(TestCase):
    """A type of another project goes through the resolver, never the local table.

    ``shop_b`` is not in ``PEERS`` here (a since-removed peer): ``remote()`` refuses it, so
    the references are built as reading a stored row builds them.
    """

    @classmethod
    def setUpTestData(cls):
        cls.lion = Animal.objects.create(pk=100, common_name="Lion", latin_name="Panthera leo")
        cls.remote_ct = GenericContentType.objects.get_for_remote("shop_b", "testapp", "Animal")

    def test_reading_gives_a_remote_reference_not_the_local_row(self):
        tag = TaggedItem.objects.create(tag="r", content_type=self.remote_ct, object_id="100")
        tag = TaggedItem.objects.get(pk=tag.pk)
        with self.assertNumQueries(0):  # the type is cached; testapp_animal is not read
            target = tag.content_object
        self.assertIsInstance(target, RemoteObject)
        self.assertNotEqual(target, self.lion)
        self.assertEqual(target, RemoteObject(self.remote_ct, 100))
        self.assertEqual(target.content_type, self.remote_ct)
        self.assertEqual(target.pk, 100)

    def test_reading_a_field_of_an_unreachable_target_raises_peer_unavailable(self):
        tag = TaggedItem.objects.create(tag="r", content_type=self.remote_ct, object_id="100")
        tag = TaggedItem.objects.get(pk=tag.pk)
        with self.assertRaises(PeerUnavailable) as ctx:
            _ = tag.content_object.common_name
        message = str(ctx.exception)
        self.assertIn("'shop_b'", message)
        self.assertIn("PEERS", message)
        self.assertIsInstance(ctx.exception, FederationError)

    def test_prefetching_a_remote_target_raises_peer_unavailable(self):
        TaggedItem.objects.create(tag="a", content_object=self.lion)
        TaggedItem.objects.create(tag="r", content_type=self.remote_ct, object_id="100")
        with self.assertRaisesMessage(PeerUnavailable, "'shop_b'"):
            list(TaggedItem.objects.prefetch_related("content_object"))

    def test_assigning_a_remote_reference(self):
        reference = RemoteObject(self.remote_ct, 100)
        tag = TaggedItem(tag="r", content_object=reference)
        self.assertEqual(tag.content_type, self.remote_ct)
        self.assertEqual(str(tag.object_id), "100")
        with self.assertNumQueries(0):
            self.assertIs(tag.content_object, reference)  # cached, no peer asked
        tag.save()
        tag = TaggedItem.objects.get(pk=tag.pk)
        self.assertEqual(tag.object_id, "100")
        self.assertFalse(tag.content_type.is_local)
        self.assertIsNone(tag.content_type.model_class())
        self.assertEqual(tag.content_object, reference)
        self.assertEqual(list(self.lion.tags.all()), [])  # never the local lion

    def test_create_and_bulk_create_with_a_remote_reference(self):
        reference = RemoteObject(self.remote_ct, "abc")
        TaggedItem.objects.create(tag="a", content_object=reference)
        TaggedItem.objects.bulk_create([TaggedItem(tag="b", content_object=reference)])
        self.assertEqual(
            list(TaggedItem.objects.filter(content_type=self.remote_ct).values_list(
                "object_id", flat=True
            )),
            ["abc", "abc"],
        )

    def test_switching_from_remote_to_local_invalidates_the_cache(self):
        tag = TaggedItem(tag="r", content_object=RemoteObject(self.remote_ct, 100))
        tag.content_type = GenericContentType.objects.get_for_model(Animal)
        self.assertEqual(tag.content_object, self.lion)
        tag.content_type = self.remote_ct
        self.assertIsInstance(tag.content_object, RemoteObject)

    def test_reassigning_a_local_target_after_a_remote_one(self):
        tag = TaggedItem.objects.create(tag="r", content_type=self.remote_ct, object_id="1")
        tag.content_object = self.lion
        tag.save()
        self.assertEqual(TaggedItem.objects.get(pk=tag.pk).content_object, self.lion)

    def test_assigning_something_else_raises_type_error(self):
        with self.assertRaises(TypeError):
            TaggedItem(tag="x", content_object=object())


class RemoteTypePlaceholderTests(TestCase):
    def test_unreachable_target_reads_as_a_placeholder_by_default(self):
        lion = Animal.objects.create(pk=100, common_name="Lion")
        remote_ct = GenericContentType.objects.get_for_remote("shop_b", "testapp", "animal")
        TaggedItem.objects.create(tag="r", content_type=remote_ct, object_id="100")
        target = TaggedItem.objects.get(tag="r").content_object
        self.assertIn("unavailable", str(target))
        self.assertIs(target.is_available, False)
        self.assertNotEqual(target, lion)


class SharedProjectTests(TestCase):
    def test_shared_type_reads_the_local_row(self):
        lion = Animal.objects.create(common_name="Lion", latin_name="Panthera leo")
        shared = GenericContentType.objects.get_for_remote("shared", "testapp", "animal")
        tag = TaggedItem.objects.create(tag="s", content_type=shared, object_id=str(lion.pk))
        tag = TaggedItem.objects.get(pk=tag.pk)
        self.assertEqual(tag.content_object, lion)
        self.assertEqual(
            TaggedItem.objects.prefetch_related("content_object").get().content_object, lion
        )
