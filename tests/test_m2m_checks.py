"""System checks of ``FederatedManyToManyField`` (gm2m.E001–E205 as federated_relations.E…)."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import SimpleTestCase, override_settings
from django.test.utils import isolate_apps

from federated_relations.fields import FederatedForeignKey, FederatedManyToManyField
from federated_relations.models import GenericContentType


def ids(model):
    return [error.id for error in model.check()]


@isolate_apps("tests.m2m_app")
class FederatedManyToManyFieldChecksTests(SimpleTestCase):
    def test_valid_field_passes(self):
        class Target(models.Model):
            class Meta:
                app_label = "m2m_app"

        class Source(models.Model):
            targets = FederatedManyToManyField(Target)

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), [])
        self.assertEqual(ids(Target), [])

    def test_e001_unique(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(unique=True)

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), ["federated_relations.E001"])

    def test_e101_through_not_installed(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(through="m2m_app.Missing")

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), ["federated_relations.E101"])

    def test_e102_no_foreign_key_to_the_source(self):
        class Other(models.Model):
            class Meta:
                app_label = "m2m_app"

        class Source(models.Model):
            targets = FederatedManyToManyField(through="Link")

            class Meta:
                app_label = "m2m_app"

        class Link(models.Model):
            other = models.ForeignKey(Other, models.CASCADE)
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=20)
            target = FederatedForeignKey()

            class Meta:
                app_label = "m2m_app"

        self.assertIn("federated_relations.E102", ids(Source))

    def test_e103_ambiguous_foreign_keys_to_the_source(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(through="Link")

            class Meta:
                app_label = "m2m_app"

        class Link(models.Model):
            first = models.ForeignKey(Source, models.CASCADE, related_name="+")
            second = models.ForeignKey(Source, models.CASCADE, related_name="+")
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=20)
            target = FederatedForeignKey()

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), ["federated_relations.E103"])

    def test_e104_no_generic_foreign_key(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(through="Link")

            class Meta:
                app_label = "m2m_app"

        class Link(models.Model):
            source = models.ForeignKey(Source, models.CASCADE)

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), ["federated_relations.E104"])

    def test_e105_ambiguous_generic_foreign_keys(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(through="Link")

            class Meta:
                app_label = "m2m_app"

        class Link(models.Model):
            source = models.ForeignKey(Source, models.CASCADE)
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=20)
            target = FederatedForeignKey()
            other_ct = models.ForeignKey(ContentType, models.CASCADE)
            other_id = models.CharField(max_length=20)
            other = GenericForeignKey("other_ct", "other_id")

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), ["federated_relations.E105"])

    def _link_model(self, source_model, name="Link"):
        class Link(models.Model):
            source = models.ForeignKey(source_model, models.CASCADE)
            not_a_fk = models.CharField(max_length=20)
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=20)
            target = FederatedForeignKey()

            class Meta:
                app_label = "m2m_app"

        return Link

    def test_e106_through_fields_incomplete(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(through="Link", through_fields=("source", ""))

            class Meta:
                app_label = "m2m_app"

        self._link_model(Source)
        self.assertEqual(ids(Source), ["federated_relations.E106"])

    def test_e107_through_fields_names_a_missing_field(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(through="Link", through_fields=("nope", "target"))

            class Meta:
                app_label = "m2m_app"

        self._link_model(Source)
        errors = Source.check()
        self.assertEqual([e.id for e in errors], ["federated_relations.E107"])
        self.assertIn("source", errors[0].hint)

    def test_e108_through_fields_source_is_not_a_foreign_key(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(
                through="Link", through_fields=("not_a_fk", "target")
            )

            class Meta:
                app_label = "m2m_app"

        self._link_model(Source)
        self.assertEqual(ids(Source), ["federated_relations.E108"])

    def test_e109_through_fields_names_a_missing_generic_foreign_key(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(through="Link", through_fields=("source", "nope"))

            class Meta:
                app_label = "m2m_app"

        self._link_model(Source)
        self.assertEqual(ids(Source), ["federated_relations.E109"])

    def test_e110_through_fields_target_is_not_a_generic_foreign_key(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(
                through="Link", through_fields=("source", "not_a_fk")
            )

            class Meta:
                app_label = "m2m_app"

        self._link_model(Source)
        self.assertEqual(ids(Source), ["federated_relations.E110"])

    @override_settings(TEST_SWAPPED_MODEL="m2m_app.Replacement")
    def test_e201_swapped_target(self):
        class Replacement(models.Model):
            class Meta:
                app_label = "m2m_app"

        class Swapped(models.Model):
            class Meta:
                app_label = "m2m_app"
                swappable = "TEST_SWAPPED_MODEL"
        class Source(models.Model):
            targets = FederatedManyToManyField(Swapped)

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), ["federated_relations.E201"])

    def test_e202_reverse_accessor_clashes_with_a_field(self):
        class Target(models.Model):
            source_set = models.IntegerField()

            class Meta:
                app_label = "m2m_app"

        class Source(models.Model):
            targets = FederatedManyToManyField(Target)

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), ["federated_relations.E202"])

    def test_e203_reverse_query_name_clashes_with_a_field(self):
        class Target(models.Model):
            source = models.IntegerField()

            class Meta:
                app_label = "m2m_app"

        class Source(models.Model):
            targets = FederatedManyToManyField(Target)

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), ["federated_relations.E203"])

    def test_e204_reverse_accessors_clash(self):
        class Target(models.Model):
            class Meta:
                app_label = "m2m_app"

        class Source(models.Model):
            targets = FederatedManyToManyField(Target, related_query_name="first")
            others = FederatedManyToManyField(Target, related_query_name="second")

            class Meta:
                app_label = "m2m_app"

        errors = ids(Source)
        self.assertEqual(errors, ["federated_relations.E204", "federated_relations.E204"])

    def test_e205_reverse_query_names_clash(self):
        class Target(models.Model):
            class Meta:
                app_label = "m2m_app"

        class Source(models.Model):
            targets = FederatedManyToManyField(Target, related_name="firsts")

            class Meta:
                app_label = "m2m_app"

        class Other(models.Model):
            source = models.ForeignKey(Target, models.CASCADE, related_name="seconds",
                                       related_query_name="firsts")

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), ["federated_relations.E205"])

    def test_gm2m_style_through_model_passes(self):
        class Source(models.Model):
            targets = FederatedManyToManyField(through="Link")

            class Meta:
                app_label = "m2m_app"

        class Link(models.Model):
            source = models.ForeignKey(Source, models.CASCADE)
            video_ct = models.ForeignKey(ContentType, models.CASCADE)
            video_fk = models.CharField(max_length=255)
            video = GenericForeignKey("video_ct", "video_fk")

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), [])


@isolate_apps("tests.m2m_app")
class FederatedManyToManyFieldInheritanceTests(SimpleTestCase):
    def test_each_child_of_an_abstract_model_gets_its_own_through_table(self):
        class Base(models.Model):
            targets = FederatedManyToManyField(related_name="%(app_label)s_%(class)s_sources")

            class Meta:
                abstract = True
                app_label = "m2m_app"

        class First(Base):
            class Meta:
                app_label = "m2m_app"

        class Second(Base):
            class Meta:
                app_label = "m2m_app"

        first = First._meta.get_field("targets")
        second = Second._meta.get_field("targets")
        self.assertIsNot(first, second)
        self.assertEqual(first.remote_field.through._meta.db_table, "m2m_app_first_targets")
        self.assertEqual(second.remote_field.through._meta.db_table, "m2m_app_second_targets")
        self.assertEqual(first.get_accessor_name(), "m2m_app_first_sources")
        self.assertEqual(second.get_accessor_name(), "m2m_app_second_sources")
        self.assertEqual(first.deconstruct()[3]["related_name"],
                         "%(app_label)s_%(class)s_sources")
        self.assertEqual(ids(First), [])


@isolate_apps("tests.m2m_app")
class TargetPkLengthChecksTests(SimpleTestCase):
    """E002: a declared target whose pk cannot fit is found by ``check``, not by ``add()``."""

    def test_e002_uuid_pk_longer_than_pk_maxlength(self):
        import uuid

        class Film(models.Model):
            id = models.UUIDField(primary_key=True, default=uuid.uuid4)

            class Meta:
                app_label = "m2m_app"

        class Source(models.Model):
            targets = FederatedManyToManyField("m2m_app.Film")

            class Meta:
                app_label = "m2m_app"

        (error,) = Source.check()
        self.assertEqual(error.id, "federated_relations.E002")
        self.assertIn("'m2m_app.Film'", error.msg)
        self.assertIn("36 characters", error.msg)
        self.assertIn("pk_maxlength=16", error.msg)
        self.assertIn("pk_maxlength=36", error.hint)

    def test_pks_that_fit_pass(self):
        import uuid

        class Film(models.Model):
            id = models.UUIDField(primary_key=True, default=uuid.uuid4)

            class Meta:
                app_label = "m2m_app"

        class Code(models.Model):
            code = models.CharField(primary_key=True, max_length=16)

            class Meta:
                app_label = "m2m_app"

        class Child(Code):  # multi-table: the parent's pk
            class Meta:
                app_label = "m2m_app"

        class Source(models.Model):
            # Integer pks are not flagged: 16 digits is 10**16 rows.
            wide = FederatedManyToManyField(Film, pk_maxlength=36, related_name="wide+")
            unlimited = FederatedManyToManyField(Film, pk_maxlength=None, related_name="no+")
            codes = FederatedManyToManyField(Code, Child, related_name="codes+")
            plain = FederatedManyToManyField("m2m_app.Source", related_name="plain+")

            class Meta:
                app_label = "m2m_app"

        self.assertEqual(ids(Source), [])

    def test_e002_char_pk_of_a_child_and_a_custom_through_column(self):
        class Code(models.Model):
            code = models.CharField(primary_key=True, max_length=40)

            class Meta:
                app_label = "m2m_app"

        class Child(Code):
            class Meta:
                app_label = "m2m_app"

        class Source(models.Model):
            codes = FederatedManyToManyField(Child, related_name="codes+")
            linked = FederatedManyToManyField(Code, through="Link", related_name="linked+")

            class Meta:
                app_label = "m2m_app"

        class Link(models.Model):
            source = models.ForeignKey(Source, models.CASCADE)
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=20)
            target = FederatedForeignKey()

            class Meta:
                app_label = "m2m_app"

        errors = Source.check()
        self.assertEqual([e.id for e in errors], ["federated_relations.E002"] * 2)
        self.assertIn("'m2m_app.Child', whose pk (CharField) is 40 characters", errors[0].msg)
        self.assertIn("max_length=20 of m2m_app.Link.object_id", errors[1].msg)
