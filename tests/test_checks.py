"""System checks E301–E305 and E401–E403, after Django's ``contenttypes_tests/test_checks.py``."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

from django.apps import apps
from django.core import checks
from django.db import models
from django.test import SimpleTestCase, override_settings
from django.test.utils import isolate_apps

from federated_relations.checks import check_models, check_settings
from federated_relations.fields import FederatedForeignKey, FederatedRelation
from federated_relations.models import GenericContentType


class AppModel(models.Model):
    """Base of the models declared inside the tests (registered in the isolated apps)."""

    class Meta:
        abstract = True
        app_label = "testapp"


@isolate_apps("tests.testapp", attr_name="apps")
class FederatedForeignKeyChecksTests(SimpleTestCase):
    def test_valid_field(self):
        class Model(AppModel):
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey()

        self.assertEqual(Model._meta.get_field("content_object").check(), [])

    def test_missing_object_id_field(self):
        class TaggedItem(AppModel):
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            # missing object_id field
            content_object = FederatedForeignKey()

        field = TaggedItem._meta.get_field("content_object")
        self.assertEqual(
            field.check(),
            [
                checks.Error(
                    "The FederatedForeignKey object ID references the nonexistent field "
                    "'object_id'.",
                    obj=field,
                    id="federated_relations.E301",
                )
            ],
        )

    def test_missing_content_type_field(self):
        class TaggedItem(AppModel):
            # no content_type field
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey()

        field = TaggedItem._meta.get_field("content_object")
        self.assertEqual(
            field.check(),
            [
                checks.Error(
                    "The FederatedForeignKey content type references the nonexistent field "
                    "'TaggedItem.content_type'.",
                    obj=field,
                    id="federated_relations.E302",
                )
            ],
        )

    def test_invalid_content_type_field(self):
        class Model(AppModel):
            content_type = models.IntegerField()  # should be ForeignKey
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey("content_type", "object_id")

        field = Model._meta.get_field("content_object")
        self.assertEqual(
            field.check(),
            [
                checks.Error(
                    "'Model.content_type' is not a ForeignKey.",
                    hint=(
                        "FederatedForeignKeys must use a ForeignKey to "
                        "'federated_relations.GenericContentType' as the 'content_type' field."
                    ),
                    obj=field,
                    id="federated_relations.E303",
                )
            ],
        )

    def test_content_type_field_pointing_to_wrong_model(self):
        class Model(AppModel):
            content_type = models.ForeignKey("self", models.CASCADE)  # should point to GCT
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey("content_type", "object_id")

        field = Model._meta.get_field("content_object")
        self.assertEqual(
            field.check(),
            [
                checks.Error(
                    "'Model.content_type' is not a ForeignKey to "
                    "'federated_relations.GenericContentType'.",
                    hint=(
                        "FederatedForeignKeys must use a ForeignKey to "
                        "'federated_relations.GenericContentType' as the 'content_type' field."
                    ),
                    obj=field,
                    id="federated_relations.E304",
                )
            ],
        )

    def test_django_content_type_is_the_wrong_model(self):
        from django.contrib.contenttypes.models import ContentType

        class Model(AppModel):
            content_type = models.ForeignKey(ContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey()

        errors = Model._meta.get_field("content_object").check()
        self.assertEqual([e.id for e in errors], ["federated_relations.E304"])

    def test_field_name_ending_with_underscore(self):
        class Model(AppModel):
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)
            content_object_ = FederatedForeignKey()

        field = Model._meta.get_field("content_object_")
        self.assertEqual(
            field.check(),
            [
                checks.Error(
                    "Field names must not end with an underscore.",
                    obj=field,
                    id="fields.E001",
                )
            ],
        )

    def test_run_by_the_system_checks(self):
        class Model(AppModel):
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey()

        from django.contrib.contenttypes.checks import check_generic_foreign_keys

        errors = check_generic_foreign_keys([self.apps.get_app_config("testapp")])
        self.assertEqual([e.id for e in errors], ["federated_relations.E302"])


@isolate_apps("tests.testapp", attr_name="apps")
class FederatedRelationChecksTests(SimpleTestCase):
    def test_valid_relation(self):
        class TaggedItem(AppModel):
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey()

        class Bookmark(AppModel):
            tags = FederatedRelation("TaggedItem")

        self.assertEqual(Bookmark.tags.field.check(), [])

    def test_valid_relation_with_custom_field_names(self):
        class TaggedItem(AppModel):
            custom_content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            custom_object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey("custom_content_type", "custom_object_id")

        class Bookmark(AppModel):
            tags = FederatedRelation(
                "TaggedItem",
                content_type_field="custom_content_type",
                object_id_field="custom_object_id",
            )

        self.assertEqual(Bookmark.tags.field.check(), [])

    def test_pointing_to_missing_model(self):
        class Model(AppModel):
            rel = FederatedRelation("MissingModel")

        self.assertEqual(
            Model.rel.field.check(),
            [
                checks.Error(
                    "Field defines a relation with model 'MissingModel', "
                    "which is either not installed, or is abstract.",
                    obj=Model.rel.field,
                    id="fields.E300",
                )
            ],
        )

    def test_missing_federated_foreign_key(self):
        class TaggedItem(AppModel):
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)

        class Bookmark(AppModel):
            tags = FederatedRelation("TaggedItem")

        self.assertEqual(
            Bookmark.tags.field.check(),
            [
                checks.Error(
                    "The FederatedRelation defines a relation with the model "
                    "'testapp.TaggedItem', but that model does not have a FederatedForeignKey "
                    "on 'content_type' and 'object_id'.",
                    obj=Bookmark.tags.field,
                    id="federated_relations.E305",
                )
            ],
        )

    def test_a_plain_generic_foreign_key_does_not_count(self):
        from django.contrib.contenttypes.fields import GenericForeignKey
        from django.contrib.contenttypes.models import ContentType

        class TaggedItem(AppModel):
            content_type = models.ForeignKey(ContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)
            content_object = GenericForeignKey()

        class Bookmark(AppModel):
            tags = FederatedRelation("TaggedItem")

        self.assertEqual(
            [e.id for e in Bookmark.tags.field.check()], ["federated_relations.E305"]
        )

    def test_foreign_key_on_other_fields_does_not_count(self):
        class TaggedItem(AppModel):
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)
            other_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey(fk_field="other_id")

        class Bookmark(AppModel):
            tags = FederatedRelation("TaggedItem")

        self.assertEqual(
            [e.id for e in Bookmark.tags.field.check()], ["federated_relations.E305"]
        )

    def test_run_by_the_system_checks_once(self):
        class TaggedItem(AppModel):
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)

        class Bookmark(AppModel):
            tags = FederatedRelation("TaggedItem")

        errors = check_models([self.apps.get_app_config("testapp")])
        self.assertEqual([e.id for e in errors], ["federated_relations.E305"])
        self.assertIs(errors[0].obj, Bookmark.tags.field)

    def test_field_name_ending_with_underscore(self):
        class TaggedItem(AppModel):
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey()

        class InvalidBookmark(AppModel):
            tags_ = FederatedRelation("TaggedItem")

        self.assertEqual(
            InvalidBookmark.tags_.field.check(),
            [
                checks.Error(
                    "Field names must not end with an underscore.",
                    obj=InvalidBookmark.tags_.field,
                    id="fields.E001",
                )
            ],
        )


class ProjectModelsCheckTests(SimpleTestCase):
    def test_the_test_models_pass_every_check(self):
        from django.contrib.contenttypes.checks import check_generic_foreign_keys

        # Resolve the joins first, as running a query does: GenericRelation then sets
        # to_fields to the pk name ("slug"), which is not a field of TaggedItem.
        for model in apps.get_app_config("testapp").get_models():
            for field in model._meta.private_fields:
                if isinstance(field, FederatedRelation):
                    self.assertTrue(field.related_fields)
        configs = [apps.get_app_config("testapp")]
        self.assertEqual(check_models(configs), [])
        self.assertEqual(check_generic_foreign_keys(configs), [])


class SettingsCheckTests(SimpleTestCase):
    def test_valid_settings(self):
        self.assertEqual(check_settings(), [])

    # The settings are patched without sending setting_changed, so that only the check
    # reads them: what `manage.py check` sees when a deployment's settings are wrong.

    def test_e401_malformed_settings(self):
        raw = SimpleNamespace(FEDERATION={"PROJECT_NAME": "a", "TIMEOUT": -1}, CACHES={})
        with mock.patch("federated_relations.conf.settings", raw):
            errors = check_settings()
        self.assertEqual([e.id for e in errors], ["federated_relations.E401"])
        self.assertIn("TIMEOUT", errors[0].msg)

    def test_e401_missing_project_name(self):
        with mock.patch("federated_relations.conf.settings", SimpleNamespace(CACHES={})):
            errors = check_settings()
        self.assertEqual([e.id for e in errors], ["federated_relations.E401"])
        self.assertIn("PROJECT_NAME", errors[0].msg)

    def test_e402_exposed_model_not_installed(self):
        settings = {"PROJECT_NAME": "a", "EXPOSE": {"nope.Missing": ["name"]}}
        with override_settings(FEDERATION=settings):
            errors = check_settings()
        self.assertEqual([e.id for e in errors], ["federated_relations.E402"])
        self.assertIn("'nope.Missing'", errors[0].msg)

    def test_e403_exposed_field_missing(self):
        settings = {"PROJECT_NAME": "a", "EXPOSE": {"testapp.Animal": ["common_name", "nope"]}}
        with override_settings(FEDERATION=settings):
            errors = check_settings()
        self.assertEqual([e.id for e in errors], ["federated_relations.E403"])
        self.assertIn("'nope'", errors[0].msg)
        self.assertIn("testapp.Animal", errors[0].msg)

    def test_e403_exposed_field_without_a_column(self):
        settings = {"PROJECT_NAME": "a", "EXPOSE": {"testapp.Animal": ["tags"]}}
        with override_settings(FEDERATION=settings):
            errors = check_settings()
        self.assertEqual([e.id for e in errors], ["federated_relations.E403"])

    def test_valid_expose(self):
        settings = {"PROJECT_NAME": "a", "EXPOSE": {"testapp.Animal": ["common_name"]}}
        with override_settings(FEDERATION=settings):
            self.assertEqual(check_settings(), [])

    def test_registered_with_the_system_checks(self):
        registered = checks.registry.registry.get_checks()
        self.assertIn(check_settings, registered)
        self.assertIn(check_models, registered)


@isolate_apps("tests.testapp", attr_name="apps")
class RelationDeclarationTests(SimpleTestCase):
    """Declarations Django accepts must load, and be reported by the checks if invalid."""

    def test_relation_on_an_abstract_model_leaves_no_lazy_reference(self):
        from django.core.checks.model_checks import _check_lazy_references

        from federated_relations.keys import ObjectIdExact

        class Reference(AppModel):
            content_type = models.ForeignKey(GenericContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey()

        class Taggable(models.Model):
            references = FederatedRelation(Reference, related_query_name="%(class)s")

            class Meta:
                abstract = True
                app_label = "testapp"

        class Article(Taggable):
            class Meta:
                app_label = "testapp"

        # Before the fix: models.E022, a lazy reference to the model testapp.taggable.
        # (fields.E307 is there too: federated_relations is not in the isolated apps.)
        errors = _check_lazy_references(self.apps)
        self.assertEqual([e for e in errors if e.id != "fields.E307"], [])
        self.assertEqual(check_models([self.apps.get_app_config("testapp")]), [])
        self.assertIs(Article.references.field.model, Article)
        # The concrete subclass's copy of the relation registered the text lookup.
        object_id = Reference._meta.get_field("object_id")
        self.assertIs(object_id.get_lookup("exact"), ObjectIdExact)

    def test_relation_to_a_model_without_the_fields_is_a_check_error(self):
        class Relation(AppModel):
            name = models.CharField(max_length=10)

        # Before the fix: FieldDoesNotExist while the class was created.
        class Person(AppModel):
            relations = FederatedRelation(Relation)
            later = FederatedRelation("LaterRelation", object_id_field="missing_id")

        class LaterRelation(AppModel):
            name = models.CharField(max_length=10)

        errors = check_models([self.apps.get_app_config("testapp")])
        self.assertEqual(
            [(e.id, e.obj) for e in errors],
            [
                ("federated_relations.E305", Person.relations.field),
                ("federated_relations.E305", Person.later.field),
            ],
        )
        self.assertIn("'testapp.Relation', but that model does not have", errors[0].msg)
        self.assertIn("on 'content_type' and 'missing_id'", errors[1].msg)
        self.assertEqual(Person._meta.get_field("relations").related_model, Relation)
