"""Primary keys as text: ``pk_to_string`` in Python and ``ObjectIdExact`` in SQL agree.

Includes the Hypothesis properties: every pk type round-trips through the string object
id column (Python string ↔ database join ↔ resolve), and local rows stay apart from
remote rows whose pks collide, under random data.
"""

from __future__ import annotations

import datetime
import string
import uuid

from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from federated_relations.keys import ObjectIdExact, as_canonical_text, is_text_field, pk_to_string
from federated_relations.models import GenericContentType
from federated_relations.resolver import key_of
from tests.testapp.models import (
    Animal,
    BigBook,
    DateBook,
    IntBook,
    IntegerTaggedItem,
    SlugBook,
    TaggedItem,
    UUIDBook,
)

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# What each pk type may hold, as the databases store it.
PK_STRATEGIES = {
    IntBook: st.integers(min_value=-(2**31), max_value=2**31 - 1),
    BigBook: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    UUIDBook: st.uuids(),
    SlugBook: st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=50,
    ),
    DateBook: st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31)),
}

RELATED_QUERY_NAMES = {
    IntBook: "int_book",
    BigBook: "big_book",
    UUIDBook: "uuid_book",
    SlugBook: "slug_book",
    DateBook: "date_book",
}


def make_target(model, pk):
    if model is DateBook:
        return DateBook.objects.create(day=pk)
    if model is SlugBook:
        return SlugBook.objects.create(slug=pk, title="t")
    return model.objects.create(pk=pk, title="t")


class PkToStringTests(HypothesisTestCase):
    def test_integers(self):
        field = IntBook._meta.pk
        self.assertEqual(pk_to_string(field, 7), "7")
        self.assertEqual(pk_to_string(field, "7"), "7")
        self.assertEqual(pk_to_string(field, -3), "-3")

    def test_uuid_forms_agree(self):
        value = uuid.UUID("12345678-1234-5678-1234-567812345678")
        field = UUIDBook._meta.pk
        for form in (value, str(value), value.hex, str(value).upper()):
            with self.subTest(form=form):
                self.assertEqual(pk_to_string(field, form), "12345678-1234-5678-1234-567812345678")

    def test_strings_are_kept(self):
        self.assertEqual(pk_to_string(SlugBook._meta.pk, " 007 "), " 007 ")

    def test_dates(self):
        self.assertEqual(pk_to_string(DateBook._meta.pk, datetime.date(5, 1, 2)), "0005-01-02")
        self.assertEqual(pk_to_string(DateBook._meta.pk, "2024-02-29"), "2024-02-29")

    def test_remote_pk_without_field(self):
        self.assertEqual(pk_to_string(None, 100), "100")
        self.assertEqual(pk_to_string(None, "abc"), "abc")

    def test_none(self):
        self.assertIsNone(pk_to_string(IntBook._meta.pk, None))

    def test_integer_fields_agree_with_their_own_conversion(self):
        # The shortcut for Django's integer fields gives what the field's own
        # to_python() + get_prep_value() give, and the same errors.
        for field in (IntBook._meta.pk, BigBook._meta.pk, Animal._meta.pk,
                      models.PositiveSmallIntegerField(name="n")):
            for value in (7, -3, "7", " 42 ", "0007", 2**63 - 1, True, 7.9, "1_000"):
                with self.subTest(field=type(field).__name__, value=value):
                    expected = str(field.get_prep_value(field.to_python(value)))
                    self.assertEqual(pk_to_string(field, value), expected)
            for value in ("abc", "7.5", ""):
                with self.subTest(field=type(field).__name__, value=value):
                    with self.assertRaises(ValidationError):
                        pk_to_string(field, value)

    def test_integer_subclasses_with_their_own_conversion_keep_it(self):
        class Offset(models.IntegerField):
            def get_prep_value(self, value):
                return super().get_prep_value(value) + 1000

        class Prefixed(models.BigIntegerField):
            def to_python(self, value):
                return super().to_python(str(value).removeprefix("#"))

        class Negating(models.Field):
            def get_prep_value(self, value):
                return -super().get_prep_value(value)

        class Negated(models.IntegerField, Negating):  # super() of IntegerField: Negating
            pass

        self.assertEqual(pk_to_string(Offset(name="n"), "7"), "1007")
        self.assertEqual(pk_to_string(Prefixed(name="n"), "#7"), "7")
        self.assertEqual(pk_to_string(Negated(name="n"), 7), "-7")

    def test_is_text_field(self):
        self.assertTrue(is_text_field(TaggedItem._meta.get_field("object_id")))
        self.assertTrue(is_text_field(SlugBook._meta.pk))
        self.assertFalse(is_text_field(IntBook._meta.pk))
        self.assertFalse(is_text_field(UUIDBook._meta.pk))


class CanonicalTextSQLTests(HypothesisTestCase):
    """The text the database makes of a pk is the text Python makes of it."""

    def assertDatabaseText(self, obj):
        pk = obj._meta.pk
        # The base table's alias is its name: compile the pk column as a join would.
        expression = as_canonical_text(pk.get_col(obj._meta.db_table), connection)
        (text,) = type(obj).objects.filter(pk=obj.pk).annotate(
            pk_text=expression
        ).values_list("pk_text", flat=True)
        self.assertEqual(text, pk_to_string(pk, obj.pk))

    def test_each_pk_type(self):
        for model, value in (
            (IntBook, 2**31 - 1),
            (BigBook, -(2**63)),
            (UUIDBook, uuid.UUID("abcdef12-3456-7890-abcd-ef1234567890")),
            (SlugBook, "x"),
            (DateBook, datetime.date(2024, 2, 29)),
        ):
            with self.subTest(model=model.__name__):
                self.assertDatabaseText(make_target(model, value))

    def test_object_id_lookup_is_registered_on_the_relations_column_only(self):
        column = TaggedItem._meta.get_field("object_id")
        self.assertIs(column.get_lookup("exact"), ObjectIdExact)
        self.assertIsNot(models.CharField().get_lookup("exact"), ObjectIdExact)
        self.assertIsNot(SlugBook._meta.get_field("title").get_lookup("exact"), ObjectIdExact)

    def test_plain_values_are_not_cast(self):
        sql = str(TaggedItem.objects.filter(object_id="7").query)
        self.assertNotIn("CAST", sql.upper())


class PkRoundTripProperties(HypothesisTestCase):
    """pk → stored object id → join, filter, exclude, resolve → the same object."""

    def assertRoundTrip(self, model, pk):
        target = make_target(model, pk)
        target.refresh_from_db()
        content_type = GenericContentType.objects.get_for_model(model)
        tag = TaggedItem.objects.create(tag="t", content_object=target)
        # An unrelated remote row with the same text must never match.
        remote_ct = GenericContentType.objects.get_for_remote("shop_b", "testapp", model.__name__)
        TaggedItem.objects.create(
            tag="remote", content_type=remote_ct, object_id=pk_to_string(model._meta.pk, pk)
        )
        stored = TaggedItem.objects.get(pk=tag.pk)
        # Python: the stored text is the canonical string, and keys agree.
        self.assertEqual(stored.object_id, pk_to_string(model._meta.pk, target.pk))
        self.assertEqual(key_of(content_type, stored.object_id), key_of(content_type, target.pk))
        # Resolve: plain read and prefetch.
        self.assertEqual(stored.content_object, target)
        (prefetched,) = TaggedItem.objects.filter(pk=tag.pk).prefetch_related("content_object")
        self.assertEqual(prefetched.content_object, target)
        # SQL: joins from both sides, filter and exclude.
        rqn = RELATED_QUERY_NAMES[model]
        self.assertEqual(list(model.objects.filter(tags__tag="t")), [target])
        self.assertEqual(list(model.objects.filter(tags__tag="remote")), [])
        self.assertEqual(list(model.objects.exclude(tags__tag="t")), [])
        self.assertEqual(list(TaggedItem.objects.filter(**{rqn: target})), [stored])
        self.assertEqual(list(TaggedItem.objects.filter(**{f"{rqn}__pk": target.pk})), [stored])
        self.assertEqual(list(TaggedItem.objects.exclude(**{f"{rqn}__isnull": True})), [stored])
        self.assertEqual(list(target.tags.all()), [stored])
        (with_tags,) = model.objects.prefetch_related("tags")
        self.assertEqual(list(with_tags.tags.all()), [stored])

    @PROPERTY_SETTINGS
    @given(pk=PK_STRATEGIES[IntBook])
    def test_integer_pks(self, pk):
        self.assertRoundTrip(IntBook, pk)

    @PROPERTY_SETTINGS
    @given(pk=PK_STRATEGIES[BigBook])
    def test_big_integer_pks(self, pk):
        self.assertRoundTrip(BigBook, pk)

    @PROPERTY_SETTINGS
    @given(pk=PK_STRATEGIES[UUIDBook])
    def test_uuid_pks(self, pk):
        self.assertRoundTrip(UUIDBook, pk)

    @PROPERTY_SETTINGS
    @given(pk=PK_STRATEGIES[SlugBook])
    def test_string_pks(self, pk):
        self.assertRoundTrip(SlugBook, pk)

    @PROPERTY_SETTINGS
    @given(pk=PK_STRATEGIES[DateBook])
    def test_date_pks(self, pk):
        self.assertRoundTrip(DateBook, pk)


# Remote object ids: the local pks themselves (collisions), other ints, odd strings.
remote_ids = st.one_of(
    st.integers(min_value=1, max_value=12).map(str),
    st.text(string.ascii_letters + string.digits + "-_ .", min_size=0, max_size=8),
)


class CollidingPkIsolationProperties(HypothesisTestCase):
    """Local and remote rows with colliding pks never mix, whatever the data."""

    @PROPERTY_SETTINGS
    @given(
        local=st.dictionaries(
            st.integers(min_value=1, max_value=12),
            st.lists(st.sampled_from(["red", "green", "blue"]), max_size=3),
            max_size=6,
        ),
        remote=st.lists(
            st.tuples(st.sampled_from(["shop_b", "shop_c"]), remote_ids,
                      st.sampled_from(["red", "green", "blue"])),
            max_size=10,
        ),
        doomed=st.integers(min_value=1, max_value=12),
    )
    def test_isolation(self, local, remote, doomed):
        animals = {pk: Animal.objects.create(pk=pk, common_name=str(pk)) for pk in local}
        for pk, tags in local.items():
            for tag in tags:
                animals[pk].tags.create(tag=tag)
        remote_pks = set()
        for project, object_id, tag in remote:
            ct = GenericContentType.objects.get_for_remote(project, "testapp", "animal")
            row = TaggedItem.objects.create(tag=tag, content_type=ct, object_id=object_id)
            remote_pks.add(row.pk)
            # The same remote ids in an integer column, where they are numbers.
            if object_id.isdigit():
                IntegerTaggedItem.objects.create(tag=tag, content_type=ct, object_id=object_id)

        expected_counts = {pk: len(tags) for pk, tags in local.items()}
        # Reverse accessors and counts.
        for pk, animal in animals.items():
            self.assertEqual(sorted(t.tag for t in animal.tags.all()), sorted(local[pk]))
            self.assertEqual(animal.tags.count(), expected_counts[pk])
        # Aggregation through the join.
        self.assertEqual(
            dict(Animal.objects.annotate(n=Count("tags")).values_list("pk", "n")),
            expected_counts,
        )
        # Filter and exclude through the join, for every tag.
        for tag in ("red", "green", "blue"):
            having = {pk for pk, tags in local.items() if tag in tags}
            self.assertEqual(
                set(Animal.objects.filter(tags__tag=tag).values_list("pk", flat=True)), having
            )
            self.assertEqual(
                set(Animal.objects.exclude(tags__tag=tag).values_list("pk", flat=True)),
                set(local) - having,
            )
        # The tag side: remote rows never join a local animal.
        self.assertEqual(
            set(TaggedItem.objects.filter(animal__isnull=False).values_list("pk", flat=True))
            & remote_pks,
            set(),
        )
        # Prefetch.
        prefetched = {a.pk: len(a.tags.all()) for a in Animal.objects.prefetch_related("tags")}
        self.assertEqual(prefetched, expected_counts)
        # Cascade deletion leaves every remote row alone.
        if doomed in animals:
            animals[doomed].delete()
        self.assertEqual(
            set(TaggedItem.objects.filter(pk__in=remote_pks).values_list("pk", flat=True)),
            remote_pks,
        )
        self.assertEqual(
            TaggedItem.objects.exclude(pk__in=remote_pks).count(),
            sum(n for pk, n in expected_counts.items() if pk != doomed),
        )
